"""Chapter 5's figures, and the records of its curves in ``results.json``."""

from __future__ import annotations

import numpy as np

from ...toolkit import plotting

#: One colour per process, shared by every figure of the chapter.
COLORS = {
    "replace": plotting.PALETTE["synthetic"],
    "accumulate": plotting.PALETTE["human"],
    "edit": plotting.PALETTE["edited"],
    "overlapping": plotting.PALETTE["selected"],
}
LABELS = {"replace": "replace", "accumulate": "accumulate",
          "edit": "token editing (all-or-nothing masks)"}
ERROR = "test error E‖ŵ−w*‖²"


def curve(mean_se, closed_form=None) -> dict:
    """A simulated curve (``mean_and_se``'s pair) for ``results.json``, with its closed form."""
    out = {"mean": mean_se[0], "se": mean_se[1]}
    if closed_form is not None:
        out["closed_form"] = closed_form
    return out


def _band(ax, x, mean, se, color, label):
    ax.plot(x, mean, color=color, lw=2, label=label)
    ax.fill_between(x, mean - 1.96 * se, mean + 1.96 * se, color=color, alpha=0.25, lw=0)


def plot_test_error(generations, summary: dict, closed: dict, base: float):
    """Every process's simulated test error (± 1.96 SE) over its closed form; the bounded
    two zoomed in the second panel."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, names in zip(axes, (["replace", "accumulate", "edit"], ["accumulate", "edit"])):
        for name in names:
            _band(ax, generations, *summary[name], COLORS[name],
                  f"{LABELS[name]}: simulation ± 1.96 SE")
            ax.plot(generations, closed[name], "k--", lw=1)
        ax.plot([], [], "k--", lw=1, label="closed forms")
        ax.axhline(2 * base, color="grey", ls=":", label="Theorem 2 bound 2·base")
        ax.axhline(np.pi**2 / 6 * base, color=COLORS["accumulate"], ls=":", label="π²/6·base")
        ax.set_xlabel("generation n")
        ax.set_ylabel(ERROR)
    axes[0].set_title("all three processes")
    axes[1].set_title("the bounded ones, zoomed")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_figure1(generations, replace, literal_disjoint, closed: dict, base: float,
                 d: int, T: int, sigma: float, f1: float, eta: float, seed: int):
    """The analogue of the paper's Figure 1: which generation wrote each training label
    under replace and under editing, beside the two processes' test errors."""
    import matplotlib.pyplot as plt
    import matplotlib.ticker as mticker

    from . import closed_form_edit, label_provenance

    n_generations = len(generations)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4), layout="constrained",
                             gridspec_kw={"width_ratios": [1, 1, 1.5]})
    titles = ("① collapse: replace all labels", "② editing: replace a few labels")
    for ax, process, title in zip(axes[:2], ("replace", "edit"), titles):
        src = label_provenance(process, n_generations, T, f1=f1, eta=eta, masks="disjoint",
                               seed=seed)
        first_edit = np.where((src > 0).any(axis=0), (src > 0).argmax(axis=0), n_generations)
        src = src[:, np.argsort(first_edit, kind="stable")]  # labels by their first edit
        im = ax.imshow(src.T, aspect="auto", cmap="viridis", vmin=0, vmax=n_generations - 1,
                       interpolation="nearest",
                       extent=(0.5, n_generations + 0.5, T - 0.5, -0.5))
        ax.set_xlabel("generation n (training set)")
        ax.set_ylabel("training label (sorted by first edit)")
        ax.set_title(title, fontsize=10)
        ax.grid(False)
    fig.colorbar(im, ax=axes[1], label="generation that wrote the label (0 = real)")
    ax = axes[2]
    _band(ax, generations, *replace, COLORS["replace"], "collapse (replace), simulation")
    ax.plot(generations, closed["replace"], "k--", lw=1, label="n·σ²d/(T−d−1)")
    _band(ax, generations, *literal_disjoint, COLORS["edit"],
          "editing, literal Eq. 3 (disjoint masks)")
    ax.plot(generations, closed["edit"], color=COLORS["edit"], ls="--", lw=1.5,
            label="editing, Theorem 1 closed form")
    ax.plot(generations,
            closed_form_edit(n_generations, d, T, sigma, f1, eta, disjoint=True),
            color=COLORS["edit"], ls=":", lw=1.5,
            label="editing, Theorem 1, disjoint (edits stop at T labels)")
    ax.axhline(2 * base, color="grey", ls=":", label="2·σ²d/(T−d−1)")
    ax.set_xlabel("generation n")
    ax.set_ylabel(ERROR)
    ax.set_title("test error", fontsize=10)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(mticker.LogLocator(base=2))
    ax.yaxis.set_major_formatter(mticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(mticker.NullFormatter())
    ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_honest_check(generations, check: dict, etas, base: float, d: int, T: int,
                      sigma: float, f1: float):
    """One panel per decay eta: the literal process with disjoint and overlapping masks
    against Theorem 1's closed form (and its disjoint variant)."""
    import matplotlib.pyplot as plt

    from . import closed_form_edit

    n = len(generations)
    fig, axes = plt.subplots(1, len(etas), figsize=(4.2 * len(etas), 4), sharey=False,
                             squeeze=False)
    for ax, e in zip(axes[0], etas):
        for masks, color in (("disjoint", COLORS["edit"]),
                             ("overlapping", COLORS["overlapping"])):
            _band(ax, generations, *check[e, masks], color, f"literal Eq. 3, {masks} masks")
        ax.plot(generations, closed_form_edit(n, d, T, sigma, f1, e), "k--", lw=1.2,
                label="Theorem 1 closed form")
        ax.plot(generations, closed_form_edit(n, d, T, sigma, f1, e, disjoint=True),
                color=COLORS["edit"], ls="--", lw=1.2,
                label="Theorem 1, disjoint (edits stop at T labels)")
        ax.axhline(2 * base, color="grey", ls=":", label="Theorem 2 bound 2·base")
        ax.set_title(f"η = {e:g}, f₁ = {f1:g}", fontsize=10)
        ax.set_xlabel("generation n")
    axes[0, 0].set_ylabel(ERROR)
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def honest_check_record(generations, check: dict, growth: dict, etas, d: int, T: int,
                        sigma: float, f1: float) -> dict:
    """The honest check for ``results.json``: every curve with its growth, and whether the
    decaying ones level off and stay within Theorem 2's factor 2."""
    from . import closed_form_edit

    n = len(generations)
    return {
        "generations": generations,
        "curves": {
            f"{e:g}": {
                "closed_form": closed_form_edit(n, d, T, sigma, f1, e),
                **{m: {**curve(check[e, m]), **growth[e, m]}
                   for m in ("disjoint", "overlapping")},
            }
            for e in etas
        },
        "bounded_when_decaying": all(g["levels_off"] for (e, m), g in growth.items() if e < 1)
        and any(e < 1 for e in etas),
        "factor2_exceeded": any(g["max_ratio"] > 2 for g in growth.values()),
        "max_ratio_to_base": max(g["max_ratio"] for g in growth.values()),
    }
