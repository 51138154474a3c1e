"""Chapter 4's measurements: one scoring pass, the token-probability distribution and its
intervals (Table 6), the dose curve and the matched thresholds, the decay over editing
generations (Table 15), throughput."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence
import math

import numpy as np

from ...toedit import ToEditor, stored, token_probability_histogram
from ...toedit.results import TABLE6_EDGES
from ...toolkit import paper
from ...toolkit.edits import windowed_editor  # noqa: F401 (the chapter's API)


#: Thresholds of the dose curve.
DOSE_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


def paper_table15_shares() -> list[float]:
    return [n / paper.TABLE15_TOKENS for n in paper.TABLE15_FLAGGED]


# --------------------------------------------------------------------------- one scoring pass


@dataclass
class ScoredTokens:
    """Per document: ``probs[d][i] = P(x_i | x_<i)`` and ``change[d][i] = q_i``, the
    probability that the top-k sampler replaces token i if it is flagged (NaN where the
    engine scores nothing: the first position and special tokens); ``stored``: the
    engine's stored pass they come from, which edits at any threshold without another."""

    probs: list[np.ndarray]
    change: list[np.ndarray]
    stored: stored.Scores | None = None

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        p = np.concatenate(self.probs) if self.probs else np.zeros(0)
        q = np.concatenate(self.change) if self.change else np.zeros(0)
        keep = ~np.isnan(p)
        return p[keep], q[keep]

    @property
    def scored(self) -> int:
        return int(sum((~np.isnan(p)).sum() for p in self.probs))


def score_tokens(editor, texts: Sequence[str], ids: Sequence | None = None, *, k: int = paper.K,
                 beta: float = paper.BETA) -> ScoredTokens:
    """``P_i`` and the change probability ``q_i`` of every token, from the engine's own
    forward pass (:func:`toedit.stored.score`: its windows, special tokens and
    probabilities); ``q_i`` is the expectation of its top-k sampler (module docstring)."""
    scores = stored.score(editor, texts, ids, candidates=k)
    return ScoredTokens(scores.per_document(), scores.per_document(scores.change_probability(k, beta)), scores)


# --------------------------------------------------------------------------- distributions


def histogram(probs: np.ndarray, bins: int = 300) -> dict:
    counts, edges = token_probability_histogram(probs, bins)
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def quantiles(probs: np.ndarray) -> dict:
    q25, q50, q75 = np.quantile(probs, [0.25, 0.5, 0.75]) if len(probs) else (math.nan,) * 3
    return {"q25": float(q25), "q50": float(q50), "q75": float(q75)}


def intervals(probs: np.ndarray) -> dict:
    """Table 6's ten intervals: our shares (percent) and counts beside the paper's."""
    counts, _ = token_probability_histogram(probs, 10)
    total = max(int(counts.sum()), 1)
    labels = [f"[{a:.1f}, {b:.1f}{']' if b == 1.0 else ')'}" for a, b in zip(TABLE6_EDGES[:-1], TABLE6_EDGES[1:])]
    return {"labels": labels, "percent": (100.0 * counts / total).tolist(), "counts": counts.tolist(),
            "paper_percent": list(paper.TABLE6_PERCENT), "paper_counts": list(paper.TABLE6_TOKENS)}


def interval_table(table: dict):
    import pandas as pd

    return pd.DataFrame({"ours (%)": table["percent"], "ours (tokens)": table["counts"],
                         "paper, biomedicine (%)": table["paper_percent"],
                         "paper (tokens)": table["paper_counts"]},
                        index=pd.Index(table["labels"], name="P(x_i | x_<i)"))


def is_u_shaped(percent: Sequence[float]) -> bool:
    """U-shaped: both end intervals hold more tokens than every middle interval."""
    ends, middle = (percent[0], percent[-1]), percent[1:-1]
    return min(ends) > max(middle)


def share_at_least(probs: np.ndarray, threshold: float) -> float:
    return float((probs >= threshold).mean()) if len(probs) else 0.0


# --------------------------------------------------------------------------- dose


def u_shape(probs: np.ndarray, table: dict, quart: dict) -> dict:
    """The U-shape's record: the scored tokens, Table 6's intervals, the quartiles, whether
    the intervals are U-shaped, and the share at or above 0.5, 0.9 and 0.99."""
    share_at = {f"{t:g}": share_at_least(probs, t) for t in (0.5, 0.9, 0.99)}
    return {"scored_tokens": len(probs), "intervals": table, "quantiles": quart,
            "u_shaped": is_u_shaped(table["percent"]), "share_at_least": share_at}


def choose_threshold(threshold, dose_matched: float, flag_matched: float,
                     share_at: dict) -> dict:
    """The edit threshold the rule uses: ``threshold`` itself, or the dose- or flag-matched
    one when it names them; with both matched values beside it."""
    rule = threshold if isinstance(threshold, str) else "fixed"
    matched = {"dose_matched": dose_matched, "flag_matched": flag_matched}
    value = float(matched.get(threshold, threshold))
    return {"threshold": {"rule": rule, "value": value}, "share_at_least": share_at,
            "dose_matched_threshold": dose_matched, "flag_matched_threshold": flag_matched}


def dose_curve(probs: np.ndarray, change: np.ndarray, thresholds: Sequence[float] = DOSE_THRESHOLDS) -> list[dict]:
    """Per threshold t: the share of scored tokens flagged (P >= t), and the expected share
    changed (of all scored tokens, and of the flagged ones)."""
    n = max(len(probs), 1)
    out = []
    for t in thresholds:
        flag = probs >= t
        changed = float(change[flag].sum())
        out.append({"threshold": float(t), "flagged_share": float(flag.sum() / n), "changed_share": changed / n,
                    "changed_share_of_flagged": changed / flag.sum() if flag.any() else None})
    return out


def dose_by_threshold(curve: list[dict]) -> dict[str, dict]:
    """The dose curve as results.json keeps it: threshold -> flagged, changed (shares of all
    scored tokens) and changed_of_flagged."""
    return {f"{r['threshold']:g}": {"flagged": r["flagged_share"], "changed": r["changed_share"],
                                    "changed_of_flagged": r["changed_share_of_flagged"]} for r in curve}


def _threshold_for(probs_desc: np.ndarray, count: int) -> float:
    """A threshold that flags exactly the ``count`` most probable tokens, placed halfway to
    the next one so no probability sits on it."""
    if count <= 0:
        return float(np.nextafter(probs_desc[0], np.inf)) if len(probs_desc) else 1.0
    if count >= len(probs_desc):
        return float(probs_desc[-1])
    return float((probs_desc[count - 1] + probs_desc[count]) / 2)


def dose_matched_threshold(probs: np.ndarray, change: np.ndarray, target: float = paper.CHANGED_SHARE) -> float:
    """The highest threshold whose expected changed share of all tokens reaches ``target``
    (the lowest probability of all, flagging everything, when no threshold does)."""
    order = np.argsort(-probs, kind="stable")
    expected = np.cumsum(change[order]) / max(len(probs), 1)
    count = int(np.searchsorted(expected, target) + 1)  # first prefix whose expectation reaches the target
    return _threshold_for(probs[order], min(count, len(probs)))


def flag_matched_threshold(probs: np.ndarray, share: float = paper.FLAGGED_SHARE) -> float:
    """The threshold that flags ``share`` of the scored tokens (the paper's 12.5%)."""
    desc = np.sort(probs)[::-1]
    return _threshold_for(desc, int(round(share * len(desc))))


def expected_changes(change_at_flagged: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the number of changed tokens, given each flagged
    token's change probability (independent draws: a Poisson-binomial count)."""
    q = np.asarray(change_at_flagged, dtype=np.float64)
    return float(q.sum()), float(np.sqrt((q * (1 - q)).sum()))


# --------------------------------------------------------------------------- generations


def fit_eta(flagged: np.ndarray, scored: np.ndarray, boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Fit ``share_g = f1 * eta**(g-1)`` to the flagged share of generations 1..G.

    ``flagged`` and ``scored`` are (G, documents) counts. The fit is least squares on
    log shares; the interval is a bootstrap over documents (the unit that is sampled).
    """
    flagged, scored = np.asarray(flagged, dtype=float), np.asarray(scored, dtype=float)
    g = np.arange(flagged.shape[0])

    def fit(f, s):
        share = f.sum(1) / np.maximum(s.sum(1), 1)
        if len(share) < 2 or (share <= 0).any():
            return math.nan, math.nan
        slope, icept = np.polyfit(g, np.log(share), 1)
        return math.exp(slope), math.exp(icept)

    eta, f1 = fit(flagged, scored)
    rng = np.random.default_rng(seed)
    n = flagged.shape[1]
    draws = []
    for _ in range(boot if n > 1 else 0):
        pick = rng.integers(0, n, n)
        draws.append(fit(flagged[:, pick], scored[:, pick])[0])
    draws = np.asarray([d for d in draws if not math.isnan(d)])
    a = (1 - level) / 2
    interval = [float(np.quantile(draws, a)), float(np.quantile(draws, 1 - a))] if len(draws) else [None, None]
    return {"eta": eta, "f1": f1, "eta_interval": interval, "level": level, "bootstrap": int(len(draws))}


def run_generations(editor, texts: Sequence[str], ids: Sequence, first: list, generations: int, *, seed: int,
                    boot: int = 1000) -> tuple[list[list], dict]:
    """Edit the output of each pass again (``first`` is generation 1's pass), ``generations``
    passes in all, each with the engine's stream for its generation number. Returns the passes
    and the flagged share, the prior's PPL of the text each pass read, and the eta fit."""
    passes = [first]
    for g in range(2, generations + 1):
        passes.append(editor.edit_texts([r.text for r in passes[-1]], ids=ids, seed=seed, generation=g,
                                        return_probs=True))
    flagged = np.array([[r.flagged for r in results] for results in passes])
    scored = np.array([[r.scored for r in results] for results in passes])
    ppl = [float(np.exp(-np.nanmean(np.log(np.concatenate([r.probs for r in results]))))) for results in passes]
    summary = {"flagged_share": (flagged.sum(1) / np.maximum(scored.sum(1), 1)).tolist(), "ppl": ppl,
               "changed": [int(sum(r.changed for r in results)) for results in passes],
               **fit_eta(flagged, scored, boot=boot, seed=seed)}
    return passes, summary


def rule_at_work(stats, change: Sequence[np.ndarray], edited: Sequence, k: int, beta: float) -> dict:
    """The engine's measured shares beside the expectation from the change probabilities
    ``change`` (per document, from :func:`score_tokens`) at the positions the engine flagged."""
    q = np.concatenate([c[r.flagged_positions] for c, r in zip(change, edited)]) if edited else np.zeros(0)
    expected, sd = expected_changes(q)
    of_flagged = (lambda n: n / stats.flagged) if stats.flagged else (lambda n: None)
    return {"sampler": {"name": "top_k", "k": k, "beta": beta},
            "flagged_share": stats.flagged / stats.scored, "changed_share": stats.changed / stats.scored,
            "changed_share_of_flagged": of_flagged(stats.changed),
            "expected_changed_share_of_flagged": of_flagged(expected),
            "expected_changes": {"expected": expected, "sd": sd, "measured": stats.changed,
                                 "z": (stats.changed - expected) / sd if sd else 0.0}}


def throughput(tokens: int, engine_seconds: float, forward_seconds: float, device: str, dtype: str) -> dict:
    return {"tokens": tokens, "engine_seconds": engine_seconds, "forward_seconds": forward_seconds,
            "engine_tokens_per_s": tokens / engine_seconds,
            "forward_tokens_per_s": tokens / forward_seconds if forward_seconds else None,
            "forward_share": forward_seconds / engine_seconds, "device": device, "dtype": dtype}


def intervals_by_domain(scored: ScoredTokens, doc_domains: Sequence[str]) -> dict[str, list[float]]:
    """Table 6's interval shares (percent) per domain."""
    out = {}
    for d in sorted(set(doc_domains)):
        p = np.concatenate([x[~np.isnan(x)] for x, dd in zip(scored.probs, doc_domains) if dd == d])
        out[d] = intervals(p)["percent"]
    return out


def generations_table(gen: dict):
    import pandas as pd

    return pd.DataFrame({"flagged (%)": 100 * np.array(gen["flagged_share"]), "PPL under the prior": gen["ppl"],
                         "changed in this pass": gen["changed"]},
                        index=pd.RangeIndex(1, len(gen["ppl"]) + 1, name="generation")).round(3)


