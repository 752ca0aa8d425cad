"""How every benchmark ends: its medians, one `median <measure> <figure>` line each, the lines
the README's performance section quotes."""

from __future__ import annotations


def print_medians(figures: dict[str, str]) -> None:
    for measure, figure in figures.items():
        print(f"median {measure} {figure}", flush=True)
