"""Chapter 4's figures."""

from __future__ import annotations

import numpy as np

from ...toedit.results import TABLE6_EDGES
from ...toolkit import paper
from .measure import dose_curve, paper_table15_shares


def plot_token_probabilities(hist: dict, quart: dict, table: dict):
    """Fig. 5 (300-bin histogram, quartiles marked, log y) beside Table 6's intervals."""
    import matplotlib.pyplot as plt

    from ...toolkit.plotting import PALETTE

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax.stairs(hist["counts"], np.array(hist["edges"]), fill=True, color=PALETTE["human"])
    for name, style in zip(("q25", "q50", "q75"), (":", "--", "-.")):
        ax.axvline(quart[name], color="black", ls=style, lw=1, label=f"{name[1:]}th percentile ({quart[name]:.2f})")
    ax.axvline(paper.Q75, color="grey", lw=1, label=f"paper's 75th percentile (≈{paper.Q75})")
    ax.set_yscale("log")
    ax.set_xlabel(r"$P(x_i \mid x_{<i})$ under the prior (300 bins)")
    ax.set_ylabel("tokens (log scale)")
    ax.set_title("Token probabilities of the human text")
    ax.legend(fontsize=8)
    x = np.arange(10)
    ax2.bar(x - 0.2, table["percent"], 0.4, label="ours", color=PALETTE["human"])
    ax2.bar(x + 0.2, table["paper_percent"], 0.4, label="paper, biomedicine (Table 6)", color="grey")
    ax2.set_xticks(x, [f"{e:.1f}" for e in TABLE6_EDGES[:-1]])
    ax2.set_xlabel("interval of P (lower edge; width 0.1)")
    ax2.set_ylabel("share of tokens (%)")
    ax2.set_title("The ten intervals of Table 6")
    ax2.legend(fontsize=8)
    return fig


def plot_dose(probs: np.ndarray, change: np.ndarray, dose_matched: float, flag_matched: float):
    """Flagged and expected changed shares against the threshold, the matched thresholds marked."""
    import matplotlib.pyplot as plt

    grid = np.unique(np.r_[np.linspace(0.3, 0.999, 141), dose_matched, flag_matched])
    curve = dose_curve(probs, change, grid)
    fig, ax = plt.subplots()
    ax.plot(grid, [100 * r["flagged_share"] for r in curve], label=r"flagged ($P \geq t$)")
    ax.plot(grid, [100 * r["changed_share"] for r in curve], label="changed (expected)")
    ax.axhline(100 * paper.FLAGGED_SHARE, color="grey", ls="--", lw=1, label="paper: flagged at 0.99")
    ax.axhline(100 * paper.CHANGED_SHARE, color="grey", ls=":", lw=1, label="paper: changed per pass")
    ax.axvline(dose_matched, color="black", ls="-.", lw=1, label=f"dose-matched t = {dose_matched:.3f}")
    ax.axvline(flag_matched, color="black", ls=":", lw=1, label=f"flag-matched t = {flag_matched:.3f}")
    ax.set_yscale("log")
    ax.set_xlabel("threshold t")
    ax.set_ylabel("share of all scored tokens (%, log scale)")
    ax.set_title("The dose curve, from one scoring pass")
    ax.legend(fontsize=8)
    return fig


def plot_generations(gen: dict, threshold: float):
    """Flagged share per generation with the geometric fit, and the decay beside Table 15's."""
    import matplotlib.pyplot as plt

    from ...toolkit.plotting import PALETTE

    share = np.array(gen["flagged_share"])
    gens = np.arange(1, len(share) + 1)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax.plot(gens, 100 * share, "o", color=PALETTE["edited"], label="ours")
    ax.plot(gens, 100 * gen["f1"] * gen["eta"] ** (gens - 1), color=PALETTE["edited"],
            label=f"fit: η = {gen['eta']:.3f}")
    ax.set_title(f"Flagged share at t = {threshold:.3f}")
    ax.set_ylabel("flagged share (%)")
    theirs = np.array(paper_table15_shares())
    ax2.plot(gens, share / share[0] if share[0] else share, "o-", color=PALETTE["edited"], label="ours")
    ax2.plot(np.arange(1, len(theirs) + 1), theirs / theirs[0], "s--", color="grey", label="paper (Table 15)")
    ax2.set_title("The decay, ours beside the paper's")
    ax2.set_ylabel("flagged share relative to generation 1")
    for a in (ax, ax2):
        a.set_xlabel("generation (1 = the source text)")
        a.set_xticks(gens)
        a.legend(fontsize=8)
    return fig


