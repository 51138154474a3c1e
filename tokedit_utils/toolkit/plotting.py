"""One figure style for the whole book."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

#: Colours for the recurring series of the book.
PALETTE = {
    "human": "#1f77b4",
    "synthetic": "#d62728",
    "edited": "#2ca02c",
    "selected": "#9467bd",
}


def use_book_style() -> None:
    """Seaborn's paper context with readable fonts; call once per notebook."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind", font_scale=1.0)
    plt.rcParams.update({"figure.figsize": (7.0, 4.0), "figure.dpi": 110, "savefig.bbox": "tight", "axes.titleweight": "bold"})


def save_figure(fig, out_dir, name: str) -> None:
    """Save a figure as PNG beside the stage's artifacts (the book shows the inline copy)."""
    from pathlib import Path

    path = Path(out_dir) / "figures"
    path.mkdir(parents=True, exist_ok=True)
    fig.savefig(path / f"{name}.png")


def log_axis(ax, axis: str = "x") -> None:
    """Plain-number labels on a log-scaled axis (1, 2, 5 per decade when it spans two decades
    or less, else powers of ten only), none on minor ticks. Call after plotting."""
    import math

    from matplotlib import ticker

    target = ax.xaxis if axis == "x" else ax.yaxis
    low, high = ax.get_xlim() if axis == "x" else ax.get_ylim()
    span = math.log10(high / low) if low > 0 and high > low else 0.0
    target.set_major_locator(ticker.LogLocator(base=10, subs=(1, 2, 5) if span <= 2 else (1,)))
    target.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(ticker.NullFormatter())
