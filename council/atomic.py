"""Files written whole or not at all: a temp file in the same folder, then an atomic rename."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any


TEMP_SUFFIX = ".tmp"


def write_text_atomic(path: Path, text: str) -> None:
    write_lines_atomic(path, [text])


def write_lines_atomic(path: Path, chunks: Iterable[str]) -> None:
    """Write `chunks` to `path`; a crash mid-way leaves the old file (or none), never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX,
                                    dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    write_lines_atomic(path, (json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def remove_stale_temps(folders: Iterable[Path], older_than_s: float) -> list[Path]:
    """Remove the temp files of writes whose process was killed outright (SIGKILL skips the
    cleanup above): `.<name>.<random>.tmp` files untouched for `older_than_s`."""
    removed = []
    now = time.time()
    for folder in folders:
        for temp in folder.rglob(f".*{TEMP_SUFFIX}") if folder.is_dir() else ():
            if temp.is_file() and now - temp.stat().st_mtime > older_than_s:
                temp.unlink(missing_ok=True)
                removed.append(temp)
    return removed
