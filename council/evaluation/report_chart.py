"""chart.svg: each pair's win rate as a horizontal bar with its 95% interval, against the 50%
line of no difference. Drawn with matplotlib's SVG backend straight from a `Figure` (no pyplot,
no display), with a fixed hash salt and no date, so the same report gives the same file."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

HASH_SALT = "council-eval"  # the SVG's element ids are hashes salted with this, not random
BAR_COLOUR, LINE_COLOUR = "#4f8cff", "#555555"


def _label(pair: dict[str, Any]) -> str:
    return f"{pair['a']} vs {pair['b']}" + (" (provisional)" if pair["provisional"] else "")


def win_rate_chart(pairs: Sequence[dict[str, Any]]) -> str:
    """The SVG text; pairs without a verdict have no rate and no bar. Each bar's group has the
    id `pair-<i>` (i: the bar's place, top first)."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    rated = [p for p in pairs if p["win_rate"] is not None]
    rates = [p["win_rate"] for p in rated]
    errors = [[max(0.0, p["win_rate"] - p["interval"][0]) for p in rated],
              [max(0.0, p["interval"][1] - p["win_rate"]) for p in rated]]
    with matplotlib.rc_context({"svg.hashsalt": HASH_SALT, "svg.fonttype": "none"}):
        figure = Figure(figsize=(7.5, 1.6 + 0.5 * max(len(rated), 1)), layout="constrained")
        axes = figure.add_subplot()
        bars = axes.barh(range(len(rated)), rates, xerr=errors, capsize=4, color=BAR_COLOUR,
                         ecolor=LINE_COLOUR, height=0.6)
        for i, bar in enumerate(bars):
            bar.set_gid(f"pair-{i}")
        axes.axvline(0.5, color=LINE_COLOUR, linestyle="--", linewidth=1)
        axes.set_yticks(range(len(rated)), [_label(p) for p in rated])
        axes.set_ylim(len(rated) - 0.5 if rated else 0.5, -0.5)  # first pair on top
        axes.set_xlim(0, 1.02)  # room for an interval's cap at 100%
        axes.xaxis.set_major_formatter(PercentFormatter(1.0))
        axes.set_xlabel("win rate of the first contestant (ties as half) with its 95% interval;"
                        " dashed: 50%, no difference")
        axes.set_ylabel("pair")
        if not rated:
            axes.text(0.5, 0.5, "no pair was judged", ha="center", va="center",
                      transform=axes.transAxes)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
