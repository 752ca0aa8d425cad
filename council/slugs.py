"""Slugs: the ASCII names personas are keyed by in URLs, files and adapters."""

from __future__ import annotations

import re
import unicodedata


def slugify(name: str) -> str:
    """Lowercase ASCII letters and digits joined by dashes, at most 64 characters."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:64].strip("-")
