"""The ``--plot`` chart: median wall time per engine as horizontal bars, min–max error bars, and
the ideal time as a vertical line when it is known.

Strategy: matplotlib is an optional extra (``fetchall[plot]``). `require_matplotlib` is called
before any run starts, so a missing matplotlib is a usage error, not a lost bench. The chart is
drawn on a bare `matplotlib.figure.Figure` (Agg canvas, no pyplot, no global state, no display).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from fetchall.bench.model import BenchReport
from fetchall.errors import UsageError

INSTALL_HINT = "pip install 'fetchall[plot]'"


def require_matplotlib() -> None:
    """Raise `UsageError` (with the install hint) if matplotlib cannot be imported."""
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        raise UsageError(f"--plot needs matplotlib: {INSTALL_HINT}") from None


def write_plot(report: BenchReport, path: Path) -> None:
    """Save the chart of ``report`` as a PNG at ``path``."""
    require_matplotlib()
    from matplotlib.figure import Figure

    rows = [(r.label, r.median()["wall_s"], r.wall_min_s, r.wall_max_s) for r in report.results]
    rows = [row for row in rows if row[1] is not None]
    names = [name for name, *_ in rows]
    medians = [float(wall or 0.0) for _, wall, _, _ in rows]
    low = [max(0.0, float(wall or 0.0) - float(lo or 0.0)) for _, wall, lo, _ in rows]
    high = [max(0.0, float(hi or 0.0) - float(wall or 0.0)) for _, wall, _, hi in rows]

    figure = Figure(figsize=(8.0, 1.2 + 0.45 * max(1, len(rows))), layout="constrained")
    axes = figure.subplots()
    positions = list(range(len(rows)))
    axes.barh(positions, medians, xerr=[low, high], capsize=4, color="#4c72b0")
    axes.set_yticks(positions, names)
    axes.invert_yaxis()  # first engine on top, like the table
    for y, wall, above in zip(positions, medians, high, strict=True):  # label past the bar
        axes.annotate(
            f"{wall:.2f} s", (wall + above, y), xytext=(6, 0), textcoords="offset points",
            va="center",
        )  # fmt: skip
    ideal = report.ideal_s
    if ideal is not None:
        axes.axvline(ideal, color="#c44e52", linestyle="--", label=f"ideal {ideal:.2f} s")
        axes.legend(loc="lower right")
    axes.set_xlabel("wall time, seconds (median; bars: min–max)")
    right = max((m + h for m, h in zip(medians, high, strict=True)), default=0.0)
    axes.set_xlim(0, max(right, ideal or 0.0) * 1.25 or 1.0)
    w = report.workload
    if w.get("source") == "builtin-server":
        title = f"fetchall bench: {w['count']} URLs, latency {w['latency_s']:g} s"
    else:
        title = "fetchall bench: URL files"
    axes.set_title(f"{title}, {w['repeat']} round(s)")
    figure.savefig(path, format="png", dpi=120)
