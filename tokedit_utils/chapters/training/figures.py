"""Chapter 6's figure of the fine-tuning generations (its paired differences are drawn by
``plot_differences``, which chapter 7 shares)."""

from __future__ import annotations

import numpy as np

from .prose import LABELS


def plot_generations(by_gen: dict, seeds) -> object:
    """Each fine-tuning metric over editing generations 0-2: one thin line per seed, the
    mean in black. ``by_gen`` maps a metric to one list of per-seed values per generation."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (m, values) in zip(axes, by_gen.items()):
        values = np.array(values)
        for i, s in enumerate(seeds):
            ax.plot(range(3), values[:, i], marker="o", lw=1, alpha=0.6, label=f"seed {s}")
        ax.plot(range(3), values.mean(1), color="black", lw=2.5, marker="s", label="mean")
        ax.set_xticks(range(3), ["source (gen 0)", "gen 1", "gen 2"])
        ax.set_ylabel(LABELS[m])
        ax.set_xlabel("editing generation of the training responses")
    axes[0].legend(fontsize=8)
    axes[0].set_title("Held-out response PPL (lower is better)")
    axes[1].set_title("Response choice task (higher is better)")
    fig.tight_layout()
    return fig
