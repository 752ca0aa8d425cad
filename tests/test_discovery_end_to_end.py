"""Export → extract_personas → import_personas → the personas answer in a round."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from council.db import session_scope
from council.llm.demo_server import DemoServer
from council.models import RoutingExample
from council.personas import list_personas
from scripts import extract_personas, import_personas
from tests.exports import write_sharegpt_export


def test_discover_import_and_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    demo_server: DemoServer, make_app, settings,
                                    connect, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "export.json"
    write_sharegpt_export(export)
    monkeypatch.setenv("OLLAMA_HOST", demo_server.url)
    data_dir = settings.data_dir

    assert extract_personas.main(["--input", str(export), "--data-dir", str(data_dir),
                                  "--clusters", "3", "--balance", "0",  # by topic
                                  "--progress", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {line["stage"] for line in lines} >= {"parse", "extract", "embed", "cluster",
                                                 "name", "prompts", "done"}
    slugs = lines[-1]["personas"]
    assert len(slugs) == 3
    personas_dir = data_dir / "personas"
    analysis = json.loads((personas_dir / "clusters" / "cluster_analysis.json").read_text())
    assert sorted(c["size"] for c in analysis["clusters"]) == [21, 21, 21]
    prompts = json.loads((personas_dir / "prompts" / "generated_prompts.json").read_text())
    assert all(p["source"] == "llm" for p in prompts["personas"])

    chosen = [p["name"] for p in prompts["personas"][:2]]
    assert import_personas.main(["--data-dir", str(data_dir), "--only", *chosen]) == 0
    assert "imported: 2 new" in capsys.readouterr().out
    assert import_personas.main(["--data-dir", str(data_dir), "--only", *chosen]) == 0
    again = capsys.readouterr().out
    assert "imported: 0 new" in again and "2 skipped" in again, "re-import never duplicates"
    assert import_personas.main(["--data-dir", str(data_dir), "--only", "Nobody"]) == 2

    app = make_app(settings.with_changes(router_top_k=6))
    with session_scope(app) as session:
        imported = [p for p in list_personas(session) if p.name in chosen]
        assert len(imported) == 2 and all(p.centroid and p.source == "import" for p in imported)
        assert session.scalar(select(func.count(RoutingExample.id))
                              .where(RoutingExample.source == "cluster")) == 2 * 21
    result = connect(app).ask("My Python code throws a KeyError, how do I fix it?")
    answered = {w["name"] for w in result.one("round_started")["workers"]}
    assert set(chosen) <= answered
    assert result.one("round_done")["status"] == "done"
