"""Chapter 3's figures, and the tables drawn beside them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...toolkit import paper, plotting
from .prose import ARM_LABELS, HUMAN_ARM, PRIOR_LABELS, SYNTHETIC_ARM

#: One colour per text source, shared by the chapter's figures.
COLORS = {"human": plotting.PALETTE["human"], "synthetic": plotting.PALETTE["synthetic"],
          "DSIR-selected": plotting.PALETTE["selected"]}


def plot_ppl_distributions(doc_ppl: dict):
    """Per-document perplexity of human and synthetic text, one panel per prior, with the
    human 25th percentile dashed."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, (name, by_source) in zip(axes, doc_ppl.items()):
        frame = pd.DataFrame([(s, v) for s, values in by_source.items() for v in values],
                             columns=["source", "ppl"])
        sns.histplot(frame, x="ppl", hue="source", log_scale=True, stat="density",
                     common_norm=False, element="step", palette=plotting.PALETTE, ax=ax)
        ax.axvline(np.percentile(by_source["human"], 25), color="black", ls="--", lw=1)
        plotting.log_axis(ax)
        ax.set_xlabel("per-document perplexity (log scale)")
        ax.set_ylabel("density")
        ax.set_title(f"{PRIOR_LABELS[name]}; dashed: human p25", fontsize=10)
    return fig


def percentile_table(doc_ppl: dict, ppl_docs: dict, below_q25: dict) -> pd.DataFrame:
    """The percentiles per prior and source, and the synthetic share below human p25."""
    table = pd.DataFrame([{"prior": PRIOR_LABELS[p], "source": s, **q,
                           "documents": len(doc_ppl[p][s])}
                          for p, by_source in ppl_docs.items() for s, q in by_source.items()])
    table["synthetic below human p25"] = [f"{below_q25[p]:.0%}" if s == "synthetic" else ""
                                          for p in ppl_docs for s in ppl_docs[p]]
    return table.set_index(["prior", "source"])


def concentration_table(ngram: dict) -> pd.DataFrame:
    """Entropy and concentration of the hashed n-gram features, per source."""
    return pd.DataFrame(ngram).T.rename(columns={
        "entropy": "entropy (bits)", "buckets_50": "buckets holding 50%",
        "buckets_90": "buckets holding 90%"})


def plot_buckets(buckets: dict):
    """The share of features per hash bucket, and their cumulative concentration."""
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, b in buckets.items():
        share = b.sum(0) / b.sum()
        ax.plot(np.arange(len(share)), 1e3 * share, lw=0.6, alpha=0.7, color=COLORS[name],
                label=name)
        ranked = np.cumsum(np.sort(share)[::-1])
        ax2.plot(np.arange(1, len(ranked) + 1), ranked, color=COLORS[name], label=name)
    ax.set_xlabel("hash bucket (10,000 unigram + bigram buckets)")
    ax.set_ylabel("share of features (per mille)")
    ax.set_title("Bucket response")
    ax.legend(fontsize=8)
    ax2.set_xscale("log")
    ax2.set_xlabel("buckets, most used first (log scale)")
    ax2.set_ylabel("cumulative share of features")
    ax2.set_title("Concentration")
    return fig


def plot_top_bigrams(top: dict, samples: dict, shown: int = 40):
    """The ``shown`` most frequent bigrams of each source, per 1,000 bigrams."""
    import matplotlib.pyplot as plt

    totals = {name: sum(len(t) - 1 for t in docs) for name, docs in samples.items()}
    fig, axes = plt.subplots(1, 3, figsize=(12, 8), sharex=True)
    for ax, (name, pairs) in zip(axes, top.items()):
        pairs = pairs[:shown]
        ax.barh([g for g, _ in pairs][::-1],
                [1e3 * c / totals[name] for _, c in pairs][::-1], color=COLORS[name])
        ax.set_xlabel("frequency (per 1,000 bigrams)")
        ax.set_title(f"{name}: top {len(pairs)} bigrams")
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def bigram_table(top: dict, rows: int) -> pd.DataFrame:
    """The top bigrams of each source with their counts, ranked."""
    return pd.DataFrame({name: [f"{g}  ({c})" for g, c in pairs] + [""] * (rows - len(pairs))
                         for name, pairs in top.items()},
                        index=pd.RangeIndex(1, rows + 1, name="rank"))


def selection_arms(runs: dict, ch2_arms: dict, seeds, domains, budget: int) -> dict:
    """Every arm's held-out PPL (mean, per seed, per domain) and tokens: the selections
    trained here between chapter 2's pure human and pure synthetic students."""
    selection = {}
    for arm in [HUMAN_ARM, *runs, SYNTHETIC_ARM]:
        by_seed = runs.get(arm) or {s: r for s, r in ch2_arms[arm].items() if s in seeds}
        first = next(iter(by_seed.values()))
        selection[arm] = {
            "ppl_mean": float(np.mean([r["ppl_mean"] for r in by_seed.values()])),
            "ppl_by_seed": {str(s): r["ppl_mean"] for s, r in by_seed.items()},
            "ppl_by_domain": {d: float(np.mean([r["ppl_by_domain"][d]
                                                for r in by_seed.values()]))
                              for d in domains},
            "seeds": sorted(by_seed), "tokens": first["tokens_seen"],
            "unique_tokens": first.get("unique_tokens", budget),
            "source": "chapter 3" if arm in runs else "chapter 2"}
    return selection


def selection_table(selection: dict) -> pd.DataFrame:
    """Held-out PPL per domain and arm, with the seeds' SD and the tokens trained on."""
    return pd.DataFrame({
        ARM_LABELS[a]: {**v["ppl_by_domain"], "mean": v["ppl_mean"],
                        "seed SD": np.std(list(v["ppl_by_seed"].values()), ddof=1)
                        if len(v["seeds"]) > 1 else np.nan,
                        "unique tokens": v["unique_tokens"], "training tokens": v["tokens"]}
        for a, v in selection.items()}).T


def plot_selection(selection: dict, trained: dict):
    """Students by training set (dots: seeds), and the share of the synthetic-to-human gap
    each selection closes beside the paper's Table 14 (direction only)."""
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4))
    labels = [ARM_LABELS[a] for a in selection][::-1]
    for i, (arm, v) in enumerate(reversed(selection.items())):
        kind = ("human" if arm == HUMAN_ARM else "synthetic" if arm == SYNTHETIC_ARM
                else "selected")
        ax.barh(i, v["ppl_mean"], color=plotting.PALETTE[kind], alpha=0.8)
        ax.scatter(list(v["ppl_by_seed"].values()), [i] * len(v["ppl_by_seed"]),
                   color="black", s=12, zorder=3)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlim(0.95 * min(min(v["ppl_by_seed"].values()) for v in selection.values()),
                1.02 * max(max(v["ppl_by_seed"].values()) for v in selection.values()))
    ax.set_xlabel("held-out PPL, mean over domains (dots: seeds)")
    ax.set_title("Students by training set")
    h, syn = selection[HUMAN_ARM]["ppl_mean"], selection[SYNTHETIC_ARM]["ppl_mean"]
    ours = {ARM_LABELS[a]: (syn - selection[a]["ppl_mean"]) / (syn - h) for a in trained}
    theirs = {f"paper {k}": (paper.WIKITEXT_SYNTHETIC - v)
              / (paper.WIKITEXT_SYNTHETIC - paper.WIKITEXT_HUMAN)
              for k, v in paper.TABLE14_WIKITEXT.items()}
    ax2.barh(list(ours) + list(theirs), list(ours.values()) + list(theirs.values()),
             color=[plotting.PALETTE["selected"]] * len(ours) + ["grey"] * len(theirs))
    ax2.axvline(0, color="black", lw=0.8)
    ax2.axvline(1, color=plotting.PALETTE["human"], ls="--", lw=1)
    ax2.set_xlabel("share of the synthetic-to-human PPL gap closed")
    ax2.set_title("Direction only: ours vs Table 14")
    ax2.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    return fig


def plot_tsne(points: np.ndarray, vectors: dict):
    """The t-SNE map of the sentence embeddings, one colour per source."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5))
    start = 0
    for name, v in vectors.items():
        ax.scatter(*points[start:start + len(v)].T, s=8, alpha=0.7, color=COLORS[name],
                   label=f"{name} ({len(v)})")
        start += len(v)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_title("MiniLM sentence embeddings, t-SNE")
    ax.legend(fontsize=8)
    return fig
