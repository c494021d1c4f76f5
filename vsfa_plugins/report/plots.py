"""The report's figures as PNG bytes, drawn with matplotlib's Agg canvas.

Deterministic: the same data gives the same bytes. Each figure is drawn under matplotlib's built-in
defaults plus a fixed set of parameters (a user's ``matplotlibrc`` or style changes nothing), with the
bundled DejaVu Sans font, and written without the PNG "Software" text chunk (it carries the matplotlib
version). No pyplot: figures are plain ``Figure`` objects on an Agg canvas, so no GUI backend is ever
selected and nothing is left in a global figure registry.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

# Fixed look, on top of matplotlib's defaults
_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.alpha": 0.35,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "savefig.facecolor": "white",
    "axes.spines.top": False,
    "axes.spines.right": False,
}
# matplotlib's tab10: one colour per run, in command-line order (repeats after 10 runs)
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf")
_MAX_LABEL = 28  # characters of a category name under a bar group
_ANNOTATE_MAX_BARS = 60  # value labels above bars while they still fit


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context():  # restores the caller's parameters afterwards
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(_RC)
        yield


def _png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.15, metadata={"Software": None})
    return buffer.getvalue()


def colour(index: int) -> str:
    return _COLOURS[index % len(_COLOURS)]


def _error(value: float, ci) -> list[list[float]]:
    """matplotlib's asymmetric error ``[[below], [above]]`` in points from a rate and its 95 % interval."""
    if ci is None:
        return [[0.0], [0.0]]
    return [[max(0.0, 100 * (value - ci[0]))], [max(0.0, 100 * (ci[1] - value))]]


def scatter(points: Sequence[tuple]) -> bytes:
    """Safety vs over-refusal: ``(run name, over-refusal rate, ASR[, over-refusal interval, ASR interval])``
    per run, rates in [0, 1]; the 95 % intervals are drawn as error bars.

    Axes are fixed at 0–100 % so that reports are comparable at a glance; both rates are lower-is-better,
    so the ideal model sits in the lower-left corner.
    """
    from matplotlib.figure import Figure

    with _style():
        figure = Figure(figsize=(6.4, 5.2))
        ax = figure.add_subplot()
        placed: list[tuple[float, float]] = []
        for index, (name, over_refusal, asr, *intervals) in enumerate(points):
            x, y = 100 * over_refusal, 100 * asr
            x_ci, y_ci = (list(intervals) + [None, None])[:2]
            if x_ci is not None or y_ci is not None:
                ax.errorbar([x], [y], xerr=_error(over_refusal, x_ci), yerr=_error(asr, y_ci), fmt="none",
                            ecolor=colour(index), elinewidth=1.2, capsize=3, zorder=2)
            ax.scatter([x], [y], s=70, color=colour(index), edgecolor="black", linewidth=0.6, zorder=3)
            # labels lean inwards near the right/top edge so they stay inside the axes; runs at (nearly) the
            # same point get their labels stacked instead of printed over each other
            near = sum(abs(x - px) < 6 and abs(y - py) < 4 for px, py in placed)
            placed.append((x, y))
            dx, ha = (-7, "right") if x > 75 else (7, "left")
            dy, va = (-7 - 12 * near, "top") if y > 90 else (7 + 12 * near, "bottom")
            ax.annotate(name, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va, fontsize=9,
                        zorder=4)
        ax.set_xlim(-4, 104)
        ax.set_ylim(-4, 104)
        ax.set_xlabel("Over-refusal rate on benign prompts (%)  →  worse")
        ax.set_ylabel("Attack success rate, ASR (%)  →  worse")
        ax.set_title("Safety vs over-refusal (one point per run; lower left is better)")
        ax.annotate("better", xy=(3, 3), xytext=(20, 20), textcoords="data", fontsize=9, color="#2ca02c",
                    arrowprops={"arrowstyle": "->", "color": "#2ca02c"})
        return _png(figure)


def category_bars(title: str, categories: Sequence[str], series: Sequence[tuple]) -> bytes:
    """Grouped bars: one group per category, one bar per run (``series``: run name, rate per category or
    None[, 95 % interval per category or None] — drawn as error bars). A missing value is marked "n/a" so
    that it cannot be mistaken for 0 %."""
    from matplotlib.figure import Figure

    runs = len(series)
    width = 0.8 / max(runs, 1)
    annotate = len(categories) * runs <= _ANNOTATE_MAX_BARS
    with _style():
        figure = Figure(figsize=(min(18.0, max(6.4, 1.6 + len(categories) * (0.28 * runs + 0.42))), 4.4))
        ax = figure.add_subplot()
        for index, (name, values, *rest) in enumerate(series):
            offset = (index - (runs - 1) / 2) * width
            xs = [i + offset for i in range(len(categories))]
            heights = [0.0 if v is None else 100 * v for v in values]
            bars = ax.bar(xs, heights, width=width * 0.92, color=colour(index), label=name, zorder=3)
            intervals = rest[0] if rest else [None] * len(values)
            shown = [(x, v, ci) for x, v, ci in zip(xs, values, intervals) if v is not None and ci is not None]
            if shown:
                errors = [_error(v, ci) for _, v, ci in shown]
                ax.errorbar([x for x, _, _ in shown], [100 * v for _, v, _ in shown],
                            yerr=[[e[0][0] for e in errors], [e[1][0] for e in errors]], fmt="none",
                            ecolor="black", elinewidth=0.8, capsize=2, zorder=4)
            if annotate:
                for bar, value in zip(bars, values):
                    text = "n/a" if value is None else f"{100 * value:.0f}"
                    ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), xytext=(0, 2),
                                textcoords="offset points", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(categories)))
        ax.set_xticklabels([_short(c) for c in categories], rotation=30, ha="right")
        ax.set_ylim(0, 108)
        ax.set_ylabel("ASR (%)")
        ax.set_title(title)
        ax.grid(axis="x", visible=False)
        ax.legend(title="run", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return _png(figure)


def _short(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "…"
