"""Chapter 3's tests, claims and summary, rendered from its results."""

from __future__ import annotations

import numpy as np

from ...toolkit import paper, stats
from .measure import bootstrap_difference, entropy_bits, interval_verdict, top_share


#: Claim 2's "low" part: more than this share of synthetic documents sits below the human
#: 25th percentile of PPL (a quarter would, if synthetic text were drawn like human text).
LOW_BAR = 0.5


def coverage_tests(human_ppl, synthetic_ppl, n_boot: int = 1000, seed: int = 0) -> dict:
    """Claim 2 in two parts, each with a percentile bootstrap interval (both samples resampled):

    * ``low``: the share of synthetic documents below the human 25th percentile of PPL, minus
      :data:`LOW_BAR`; reproduced when the interval is above zero, contradicted when below;
    * ``narrow``: the width of the 1st-99th percentile range of raw PPL, the scale the paper
      plots, human minus synthetic; reproduced when the interval is above zero.
    """
    human, synthetic = np.asarray(human_ppl, dtype=float), np.asarray(synthetic_ppl, dtype=float)
    rng = np.random.default_rng(seed)

    def low_share(h, s):
        return float(np.mean(s < np.percentile(h, 25)))

    draws = [low_share(rng.choice(human, len(human)), rng.choice(synthetic, len(synthetic))) - LOW_BAR
             for _ in range(n_boot)]
    low = {"diff": low_share(human, synthetic) - LOW_BAR, "bar": LOW_BAR, "n_boot": n_boot, "level": 0.95,
           "ci": [float(v) for v in np.percentile(draws, [2.5, 97.5])]}
    narrow = bootstrap_difference(human, synthetic, lambda x: np.percentile(x, 99) - np.percentile(x, 1),
                                  n_boot, seed + 1)
    width = {name: float(np.percentile(x, 99) - np.percentile(x, 1)) for name, x in
             (("human", human), ("synthetic", synthetic))}
    return {"below_human_q25": low_share(human, synthetic), "low": low, "width": width, "width_gap": narrow,
            "median": {"human": float(np.median(human)), "synthetic": float(np.median(synthetic))},
            "low_verdict": interval_verdict(low, +1), "narrow_verdict": interval_verdict(narrow, +1)}


def ngram_tests(buckets_human, buckets_synthetic, bigrams_human, bigrams_synthetic, k: int = 40,
                n_boot: int = 1000, seed: int = 0) -> dict:
    """Is the synthetic n-gram response more concentrated? Bootstrap intervals (documents
    resampled) of the bucket entropy gap (human minus synthetic) and of the share of bigram
    occurrences taken by the top ``k`` bigrams (synthetic minus human)."""
    from scipy import sparse

    entropy = bootstrap_difference(sparse.csr_matrix(buckets_human), sparse.csr_matrix(buckets_synthetic),
                                   entropy_bits, n_boot, seed, pooled=True)
    top = bootstrap_difference(bigrams_synthetic, bigrams_human, lambda c: top_share(c, k), n_boot, seed + 1, pooled=True)
    return {"entropy_gap": entropy, f"top{k}_share_gap": top, "k": k,
            "verdict": stats.combine([interval_verdict(entropy, +1), interval_verdict(top, +1)])}


def claims(results: dict) -> dict:
    """The chapter's claim records (paper section 8, claims 2-4), from ``results.json``."""
    cov, ng, emb = results["coverage_tests"], results["ngram_tests"], results["embedding"]
    sel = results["selection_tests"]
    k = ng["k"]
    arms = results["selection"]
    human, synthetic = arms[HUMAN_ARM]["ppl_mean"], arms[SYNTHETIC_ARM]["ppl_mean"]
    return {
        "coverage_low": stats.claim(
            f"Synthetic documents sit low in the human PPL distribution: more than {LOW_BAR:.0%} of them below "
            "the human 25th percentile, under two priors",
            stats.combine([t["low_verdict"] for t in cov.values()]),
            "; ".join(f"{PRIOR_LABELS.get(p, p)}: {t['below_human_q25']:.0%} below (95% CI "
                      f"{t['low']['ci'][0] + LOW_BAR:.0%}-{t['low']['ci'][1] + LOW_BAR:.0%}; "
                      f"{_documents(results, p)})" for p, t in cov.items()),
            f"synthetic PPL within about the lowest {paper.SYNTHETIC_QUANTILE:.0%} of human PPL",
            metric="per-document PPL", contradicted_by=f"the 95% interval of the share below {LOW_BAR:.0%}",
            tests={p: t["low"] for p, t in cov.items()}),
        "coverage_narrow": stats.claim(
            "Synthetic documents span a narrower PPL range than human ones (1-99% range, raw PPL), "
            "under two priors",
            stats.combine([t["narrow_verdict"] for t in cov.values()]),
            "; ".join(f"{PRIOR_LABELS.get(p, p)}: {t['width']['synthetic']:.1f} vs {t['width']['human']:.1f} "
                      f"(gap 95% CI {t['width_gap']['ci'][0]:+.1f} to {t['width_gap']['ci'][1]:+.1f})"
                      for p, t in cov.items()),
            f"synthetic PPL in [{paper.SYNTHETIC_PPL_RANGE[0]}, {paper.SYNTHETIC_PPL_RANGE[1]}] against human "
            f"[{paper.HUMAN_PPL_RANGE[0]}, {paper.HUMAN_PPL_RANGE[1]}+] (Fig. 3)",
            metric="per-document PPL range (1-99%)",
            contradicted_by="a synthetic range wider than the human one (interval below zero)",
            tests={p: t["width_gap"] for p, t in cov.items()}),
        "ngram_concentrated": stats.claim(
            "Synthetic text concentrates its n-gram features in fewer buckets and over-uses its top bigrams",
            ng["verdict"],
            f"bucket entropy {results['ngram']['human']['entropy']:.2f} bits (human) vs "
            f"{results['ngram']['synthetic']['entropy']:.2f} (synthetic); top-{k} bigram share "
            f"{ng[f'top{k}_share_gap']['diff']:+.1%} (synthetic minus human)",
            "synthetic features concentrate in a few of 10,000 buckets; human data has a broader response",
            metric="bigram bucket entropy, top-bigram share",
            contradicted_by="synthetic text with significantly higher entropy or a lower top-bigram share",
            tests=ng),
        "selection_fails": stats.claim(
            "Students trained on DSIR-selected or PPL-filtered synthetic data stay nearer pure synthetic than human",
            stats.combine([t["verdict"] for t in sel.values()]),
            f"held-out PPL {human:.1f} (human), {synthetic:.1f} (synthetic); "
            + ", ".join(f"{ARM_LABELS[a]} {arms[a]['ppl_mean']:.1f} ({t['gap_closed']:.0%} of the gap closed)"
                        for a, t in sel.items()),
            "Table 14, Wikitext-103: human " f"{paper.WIKITEXT_HUMAN}, synthetic {paper.WIKITEXT_SYNTHETIC}; "
            + ", ".join(f"{a} {v}" for a, v in paper.TABLE14_WIKITEXT.items()),
            metric="students' held-out PPL",
            contradicted_by="a selection whose students score significantly below human data's, or "
                            "nearer it than pure synthetic data's (Holm-adjusted over arms)",
            tests=sel),
        "embeddings_separate": stats.claim(
            "In embedding space human and synthetic text separate, and selected documents stay with the synthetic",
            stats.combine([emb["accuracy_test"]["verdict"], emb["selected_test"]["verdict"]]),
            f"{emb['k']}-NN accuracy {emb['knn_accuracy']:.0%} (chance 50%); {emb['selected_nn_synthetic']:.0%} "
            "of DSIR-selected documents have mostly synthetic neighbours",
            "t-SNE: selected points at the edge of the synthetic cluster, not overlapping human data (Fig. 4B)",
            metric="k-NN accuracy on MiniLM embeddings",
            contradicted_by="a k-NN accuracy significantly below chance, or most selected documents with "
                            "mostly human neighbours",
            tests={"accuracy": emb["accuracy_test"], "selected": emb["selected_test"]}),
    }


def _documents(results: dict, prior: str) -> str:
    n = results["documents"][prior]
    return f"{n['human']:,} human and {n['synthetic']:,} synthetic documents"


HUMAN_ARM, SYNTHETIC_ARM = "human", "synthetic"
ARM_LABELS = {HUMAN_ARM: "0% synthetic (chapter 2)", "dsir_small": "DSIR, small subset repeated",
              "dsir_large": "DSIR, large subset", "ppl_filter": "PPL filter (highest PPL, the Llama prior)",
              SYNTHETIC_ARM: "100% synthetic (chapter 2)"}
PRIOR_LABELS = {"teacher": "prior A (the teacher)", "prior_b": "prior B (independent)"}


def _priors_disagree(results: dict) -> list[str]:
    """A paragraph when the teacher finds its samples low in the human distribution and an
    independent pretrained prior does not: the reason, read from the medians."""
    cov, source = results["coverage_tests"], results["priors"]["prior_b"]["source"]
    if source == "trained here" or set(cov) != {"teacher", "prior_b"}:
        return []
    teacher, other = cov["teacher"], cov["prior_b"]
    if not (teacher["low_verdict"] == stats.REPRODUCED and other["low_verdict"] != stats.REPRODUCED):
        return []
    ratio = other["median"]["synthetic"] / other["median"]["human"]
    return [f"**Why the priors disagree.** Prior B, `{source}`, a pretrained model that neither wrote nor saw "
            f"the synthetic text, puts the median synthetic document at {ratio:.1f} times the median human "
            f"passage's perplexity ({other['median']['synthetic']:.0f} against {other['median']['human']:.0f}), and "
            f"only {other['below_human_q25']:.0%} of synthetic documents below the human 25th percentile. Our "
            "synthetic text comes from chapter 1's small teacher, whose samples a real language model finds less "
            "predictable than human text; the teacher finds them easy because it wrote them. The paper's synthetic "
            "text was written by a strong instruct model (Cosmopedia), which any good prior finds predictable. So "
            "the coverage claim holds here only from the generator's own view, and the independent prior "
            "contradicts it for the teacher's text; a corpus written by an instruct model (the `writer` parameter "
            "of chapter 1) is the test the paper ran."]


def summary(results: dict, gpu: dict | None = None) -> str:
    """The chapter's closing paragraphs, rendered from ``results.json`` (and the ``gpu``
    profile's overrides of this chapter, to say what it runs instead)."""
    c = results["claims"]
    pool = results["pool"]
    lines = [f"**Coverage, low ({c['coverage_low']['verdict']}).** {c['coverage_low']['ours']}. "
             f"Paper: {c['coverage_low']['paper']}.",
             f"**Coverage, narrow ({c['coverage_narrow']['verdict']}).** 1-99% range of per-document PPL, "
             f"synthetic vs human: {c['coverage_narrow']['ours']}. Paper: {c['coverage_narrow']['paper']}.",
             *_priors_disagree(results),
             f"**N-grams ({c['ngram_concentrated']['verdict']}).** {c['ngram_concentrated']['ours']}, "
             f"on equal samples of {results['ngram_words']:,} WordPunct tokens per source. "
             f"Paper: {c['ngram_concentrated']['paper']}.",
             f"**Selection ({c['selection_fails']['verdict']}).** {c['selection_fails']['ours']}; "
             f"{len(results['selection'][HUMAN_ARM]['seeds'])} paired seeds. Paper: {c['selection_fails']['paper']}.",
             f"**Embeddings ({c['embeddings_separate']['verdict']}).** {c['embeddings_separate']['ours']}. "
             f"Paper: {c['embeddings_separate']['paper']}."]
    for arm, t in results["selection_tests"].items():
        lines.append(f"- {ARM_LABELS[arm]}: minus human {stats.format_difference(t['minus_human'])}, minus the "
                     f"human/synthetic midpoint {stats.format_difference(t['minus_midpoint'])}: {t['verdict']}.")
    scale = (f"The selection pool held {pool['documents']:,} synthetic documents ({pool['tokens']:,} tokens, "
             f"{pool['factor']:.1f} times the {pool['budget']:,}-token training budget).")
    if gpu:
        scale += (" The `gpu` profile runs " + ", ".join(f"`{k} = {v!r}`" for k, v in sorted(gpu.items()))
                  + " instead, on chapter 1 and 2 artifacts of its own size.")
    lines.append(scale)
    return "\n\n".join(lines)
