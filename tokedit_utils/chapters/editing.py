"""Chapter 4: token-level editing measured on our corpus.

The rule itself lives in :mod:`tokedit_utils.toedit` (the engine); this module only
measures it: the token-probability histogram and the paper's ten intervals (Table 6,
Fig. 5), the dose curve (how much a threshold flags and changes), the dose- and
flag-matched thresholds, the decay of the flagged share over editing generations
(Table 15) and the paragraphs the chapter prints.

Expected changes. The engine's default sampler draws a flagged token's replacement from
the prior's top-k candidates with weights ``p_j**(1/beta)`` (k = 8, beta = 1.5; special
tokens and ids beyond the tokenizer never drawn). So a flagged position changes with
probability ``q_i = 1 - w(x_i)``, where ``w(x_i)`` is the original token's weight (1 when
the original is not among the candidates). :func:`score_tokens` computes ``P_i`` and
``q_i`` for every scored position from the engine's own forward pass (its stored
scores, which then edit at any threshold without a second pass); the expected number
of changes at a threshold is then ``sum(q_i, P_i >= t)``, its sampling variance ``sum(q_i (1 - q_i))`` (independent draws per position).
"""

from __future__ import annotations

import dataclasses
import difflib
import html
import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..toedit import stored, token_probability_histogram
from ..toedit.results import TABLE6_EDGES
from ..toolkit import paper
from ..toolkit.stats import pct as _pct

# --------------------------------------------------------------------------- the paper's numbers


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


# --------------------------------------------------------------------------- figures


def plot_token_probabilities(hist: dict, quart: dict, table: dict):
    """Fig. 5 (300-bin histogram, quartiles marked, log y) beside Table 6's intervals."""
    import matplotlib.pyplot as plt

    from ..toolkit.plotting import PALETTE

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

    from ..toolkit.plotting import PALETTE

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


# --------------------------------------------------------------------------- edited passages

_PIECE = re.compile(r"\s+|\w+|[^\w\s]")
_STYLE = ("<style>.toedit-diff td{vertical-align:top;text-align:left}"
          ".toedit-diff del{background:#fdd;color:#a00;text-decoration:line-through}"
          ".toedit-diff ins{background:#dfd;color:#060;text-decoration:none;font-weight:bold}</style>")


def diff_html(source: str, edited: str, words: int = 70) -> tuple[str, int]:
    """An excerpt of ``source`` around its first edits, with deleted text in ``<del>`` and
    inserted text in ``<ins>``; returns ``(html, number of changed spans shown)``."""
    a, b = _PIECE.findall(source), _PIECE.findall(edited)
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    first = next((i for i, op in enumerate(ops) if op[0] != "equal"), None)
    if first is None:
        return html.escape(" ".join(source.split()[:words])), 0
    out, shown, budget = [], 0, words
    start = max(0, ops[first][1] - 20)  # about ten words (and the spaces between) before the first edit
    out.append(("…" if start > 0 else "") + html.escape("".join(a[start:ops[first][1]])))
    for tag, i1, i2, j1, j2 in ops[first:]:
        if budget <= 0:
            out.append("…")
            break
        if tag == "equal":
            piece = a[i1:i2]
            kept = []
            for tok in piece:
                if budget <= 0:
                    break
                kept.append(tok)
                budget -= 0 if tok.isspace() else 1
            out.append(html.escape("".join(kept)))
            continue
        shown += 1
        if i2 > i1:
            out.append(f"<del>{html.escape(''.join(a[i1:i2]))}</del>")
        if j2 > j1:
            out.append(f"<ins>{html.escape(''.join(b[j1:j2]))}</ins>")
        budget -= max(i2 - i1, j2 - j1) // 2 + 1
    return "".join(out).replace("\n", "<br>"), shown


_WORD = re.compile(r"\w+")


def _changed_spans(src: str, new: str, window: int = 64, sync: int = 4):
    """``(old, new)`` text of each changed word span. Edits are sparse and local, so the diff
    walks both texts and, at each difference, diffs a window of ``window`` pieces (difflib),
    keeping the changes before the first run of ``sync`` equal pieces (a whole-document diff
    is quadratic in its length)."""
    a, b = _PIECE.findall(src), _PIECE.findall(new)
    i = j = 0
    while i < len(a) or j < len(b):
        if i < len(a) and j < len(b) and a[i] == b[j]:
            i, j = i + 1, j + 1
            continue
        wa, wb = a[i:i + window], b[j:j + window]
        ops = difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes()
        last = len(ops) if i + window >= len(a) and j + window >= len(b) else None
        for n, (op, i1, i2, j1, j2) in enumerate(ops):
            if op == "equal" and i2 - i1 >= sync and n > 0:
                last = n
                break
        for op, i1, i2, j1, j2 in ops[:last or len(ops)]:
            if op in ("replace", "insert"):
                yield "".join(wa[i1:i2]), "".join(wb[j1:j2])
        end = ops[(last or len(ops)) - 1]
        i, j = i + end[2], j + end[4]


def non_word_share(sources: Sequence[str], edited: Sequence[str], vocabulary: set[str] | None = None,
                   shown: int = 8) -> dict:
    """How often an edit makes a word that does not exist: of the changed word spans (a
    word-level diff of each source against its edit), the share whose new text holds a
    word absent from ``vocabulary`` (default: every word of ``sources``), with examples."""
    if vocabulary is None:
        vocabulary = {w for text in sources for w in _WORD.findall(text)}
    spans, bad, examples_ = 0, 0, []
    for src, new in zip(sources, edited):
        for old_text, new_text in _changed_spans(src, new):
            spans += 1
            if any(w not in vocabulary for w in _WORD.findall(new_text)):
                bad += 1
                if len(examples_) < shown:
                    examples_.append([old_text.strip(), new_text.strip()])
    return {"changed_spans": spans, "non_word_spans": bad, "share": bad / spans if spans else None,
            "examples": examples_}


def words(texts: Sequence[str]) -> set[str]:
    """The vocabulary of a corpus: every word (``\\w+``) of ``texts``."""
    return {w for text in texts for w in _WORD.findall(text)}


def stand_in(editor, texts: Sequence[str], ids: Sequence, *, seed: int, vocabulary: set[str],
             scored: ScoredTokens | None = None, k: int = paper.K, beta: float = paper.BETA) -> dict:
    """What a weak prior does: ``editor``'s prior (chapter 1's teacher) scores ``texts`` once
    (or ``scored`` is its scoring already), flags little at the paper's 0.99, and edits at its
    dose-matched threshold; its shares, thresholds and non-word share."""
    scored = scored or score_tokens(editor, texts, ids, k=k, beta=beta)
    probs, change = scored.flat()
    dose_matched = dose_matched_threshold(probs, change)
    config = dataclasses.replace(editor.options, threshold=dose_matched)
    edited = stored.apply(editor, scored.stored, config, seed=seed)
    flagged, changed = sum(r.flagged for r in edited), sum(r.changed for r in edited)
    return {"prior": "teacher", "pretrained": False, "scored_tokens": len(probs),
            "share_at_least": {f"{t:g}": share_at_least(probs, t) for t in (0.5, 0.9, 0.99)},
            "dose_matched_threshold": dose_matched, "flag_matched_threshold": flag_matched_threshold(probs),
            "threshold": dose_matched, "flagged_share": flagged / max(len(probs), 1),
            "changed_share": changed / max(len(probs), 1),
            "non_word": non_word_share(texts, [r.text for r in edited], vocabulary)}


def prior_table(res: dict):
    """The chapter's prior beside the stand-in: thresholds, doses and the non-word share."""
    import pandas as pd

    rows = {}
    for name, r in (("prior", res), ("stand_in", res["stand_in"])):
        rows[r["edit_prior"] if name == "prior" else r["prior"]] = {
            "P ≥ 0.99 (%)": 100 * r["share_at_least"]["0.99"], "threshold": r["edit_threshold"]
            if name == "prior" else r["threshold"], "flagged (%)": 100 * r["flagged_share"],
            "changed (%)": 100 * r["changed_share"], "changed spans": r["non_word"]["changed_spans"],
            "non-word spans (%)": None if r["non_word"]["share"] is None else 100 * r["non_word"]["share"]}
    return pd.DataFrame(rows).T


def prior_summary(res: dict) -> str:
    """The two priors side by side, in words, with examples of invented words."""
    ours, weak = res["non_word"], res["stand_in"]["non_word"]
    shown = ", ".join(f"“{a}” → “{b}”" for a, b in ours["examples"][:5]) or "none"
    return (
        f"**Which prior.** `{res['edit_prior']}` puts {_pct(res['share_at_least']['0.99'], 2)} of the tokens at "
        f"P ≥ 0.99; chapter 1's teacher, trained here on a few hundred thousand tokens, puts "
        f"{_pct(res['stand_in']['share_at_least']['0.99'], 2)} there, so as a stand-in it edits at its "
        f"dose-matched threshold {res['stand_in']['threshold']:.4f}. "
        f"**Invented words.** Of the word spans an edit changed, {_pct(ours['share'])} "
        f"({ours['non_word_spans']:,} of {ours['changed_spans']:,}) produce a word that appears nowhere in "
        f"the corpus with `{res['edit_prior']}`, and {_pct(weak['share'])} ({weak['non_word_spans']:,} of "
        f"{weak['changed_spans']:,}) with the teacher. Examples: {shown}. The tokens a prior is surest of are "
        f"often the middle of a word or a name, and resampling one of them changes the word; the paper does "
        f"not discuss this.")


def examples_html(rows: Sequence[dict]) -> str:
    """An HTML table of edited passages (``domain``, ``changed``, ``html``), like the
    paper's Table 12: deletions struck through in red, insertions in green."""
    body = "".join(f"<tr><td>{html.escape(r['domain'])}</td><td>{r['changed']}</td><td>{r['html']}</td></tr>"
                   for r in rows)
    return (f"{_STYLE}<table class='toedit-diff'><thead><tr><th>domain</th><th>tokens changed in the document</th>"
            f"<th>passage (<del>deleted</del> / <ins>inserted</ins>)</th></tr></thead><tbody>{body}</tbody></table>")


# --------------------------------------------------------------------------- tables and outputs


def dose_table(dose: list[dict]):
    import pandas as pd

    frame = pd.DataFrame(dose).set_index("threshold").astype(float).mul(100)
    frame.columns = ["flagged (% of tokens)", "changed, expected (% of tokens)", "changed (% of flagged)"]
    return frame.round(3)


def paper_numbers() -> dict:
    """The paper's numbers this chapter compares with (for results.json)."""
    return {"table6_percent": list(paper.TABLE6_PERCENT), "table6_tokens": list(paper.TABLE6_TOKENS),
            "q75": paper.Q75, "table15_shares": paper_table15_shares(), "flagged_share": paper.FLAGGED_SHARE,
            "eta": paper.ETA, "threshold": paper.THRESHOLD, "k": paper.K, "beta": paper.BETA,
            "changed_share_of_flagged": list(paper.CHANGED_OF_FLAGGED), "changed_share": paper.CHANGED_SHARE}


def write_outputs(out_dir, train, passes: Sequence[Sequence], *, threshold: float, rule: str, seed: int,
                  k: int, beta: float, prior: str) -> dict:
    """Write the text after each pass in ``passes`` (edited once, twice, ...) as
    ``edited/edited_<n>.jsonl.gz`` (the source's id, domain, source and work columns, and
    the edited text), with ``edited/MANIFEST.json``. Paths are relative to ``out_dir``."""
    from pathlib import Path

    from ..toolkit.data import write_jsonl_gz
    from ..toolkit.paths import write_json

    folder = Path(out_dir) / "edited"
    columns = [c for c in ("id", "domain", "source", "work") if c in train.column_names]
    meta = {c: train[c] for c in columns}
    datasets_ = []
    for n, results in enumerate(passes, start=1):
        path = f"edited/edited_{n}.jsonl.gz"
        records = ({**{c: meta[c][i] for c in columns}, "text": r.text} for i, r in enumerate(results))
        write_jsonl_gz(Path(out_dir) / path, records)
        datasets_.append({"name": f"edited_{n}", "path": path, "edits": n, "table16_generation": n,
                          "table15_generation": n + 1, "documents": len(results),
                          "characters": sum(len(r.text) for r in results),
                          "changed": sum(r.changed for r in results),
                          "flagged_in_this_pass": sum(r.flagged for r in results)})
    manifest = {"datasets": datasets_, "threshold": threshold, "threshold_rule": rule, "seed": seed,
                "sampler": {"name": "top_k", "k": k, "beta": beta}, "prior": str(prior),
                "source": "chapter 1's human training split (ids as in the corpus)",
                "generation_seeding": "pass n uses the engine's generation=n stream"}
    write_json(folder / "MANIFEST.json", manifest)
    out = {"manifest": "edited/MANIFEST.json", "datasets": datasets_}
    out.update({("edited_once", "edited_twice")[i]: d["path"] for i, d in enumerate(datasets_[:2])})
    return out


def examples(texts: Sequence[str], edited: Sequence, doc_domains: Sequence[str], n: int, words: int = 70) -> str:
    """The document with the most changes of each of the first ``n`` domains, as a table."""
    rows = []
    for d in sorted(set(doc_domains))[:n]:
        pick = max((i for i, dd in enumerate(doc_domains) if dd == d), key=lambda i: edited[i].changed)
        if edited[pick].changed:
            passage, _ = diff_html(texts[pick], edited[pick].text, words=words)
            rows.append({"domain": d, "changed": edited[pick].changed, "html": passage})
    return examples_html(rows)


# --------------------------------------------------------------------------- paragraphs




def method_summary() -> str:
    """The paper's settings and what they imply, from this module's constants."""
    lo, hi = paper.CHANGED_OF_FLAGGED
    return (f"The paper edits at $p = {paper.THRESHOLD}$ and draws from the top $k = {paper.K}$ candidates with "
            f"$\\beta = {paper.BETA}$ (the official script's setting; the paper does not state $\\beta$). Its prior "
            f"flags {_pct(paper.FLAGGED_SHARE)} of the tokens (Table 15), and at these settings only about "
            f"{lo:.0%}–{hi:.0%} of the flagged tokens are drawn differently, so roughly "
            f"{_pct(paper.FLAGGED_SHARE * lo)}–{_pct(paper.FLAGGED_SHARE * hi)} of all tokens change per pass: "
            f"this chapter matches the upper end, {_pct(paper.CHANGED_SHARE, 0)}.")


def u_shape_summary(res: dict) -> str:
    iv, q = res["intervals"], res["quantiles"]
    lo, hi = iv["percent"][0], iv["percent"][-1]
    middle = iv["percent"][1:-1]
    verdict = "is U-shaped" if res["u_shaped"] else "is not U-shaped"
    return (
        f"Under the prior, the distribution of the {res['scored_tokens']:,} scored tokens of the human training "
        f"text **{verdict}** by this chapter's test (both end intervals above every middle one): "
        f"{lo:.1f}% of tokens lie in [0, 0.1) and {hi:.1f}% in [0.9, 1.0], against "
        f"{min(middle):.1f}–{max(middle):.1f}% in each middle interval "
        f"(paper, Table 6: {paper.TABLE6_PERCENT[0]}% and {paper.TABLE6_PERCENT[-1]}%, middle "
        f"{min(paper.TABLE6_PERCENT[1:-1])}–{max(paper.TABLE6_PERCENT[1:-1])}%). "
        f"The quartiles are {q['q25']:.3f}, {q['q50']:.3f} and {q['q75']:.3f} (paper, Fig. 5: the 75th "
        f"percentile at about {paper.Q75}). A threshold of {paper.THRESHOLD} flags "
        f"{_pct(res['share_at_least']['0.99'], 2)} of the tokens here, and 0.9 flags "
        f"{_pct(res['share_at_least']['0.9'], 2)}; the paper's prior flags {_pct(paper.FLAGGED_SHARE)} "
        f"at {paper.THRESHOLD} (Table 15) and puts {paper.TABLE6_PERCENT[-1]}% of tokens at 0.9 or above "
        f"(Table 6)."
        + (" Ours is L-shaped instead: the prior is rarely confident, so the mass piles up at low probabilities."
           if not res["u_shaped"] and lo == max(iv["percent"]) else "")
    )


def threshold_summary(res: dict) -> str:
    """Why the chapter edits at the threshold it does (said where it first edits)."""
    t = res["threshold"]
    at99 = res["share_at_least"]["0.99"]
    dose = (f"the **dose-matched threshold** {res['dose_matched_threshold']:.4f}: the highest threshold at which "
            f"the prior's own probabilities predict that about {_pct(paper.CHANGED_SHARE, 0)} of all tokens change "
            f"per pass, as in the paper ({_pct(paper.FLAGGED_SHARE)} flagged × "
            f"{paper.CHANGED_OF_FLAGGED[0]:.0%}–{paper.CHANGED_OF_FLAGGED[1]:.0%} of them changed)")
    flag = (f"the **flag-matched threshold** {res['flag_matched_threshold']:.4f}, which flags "
            f"{_pct(paper.FLAGGED_SHARE)} of the tokens as the paper's prior does at {paper.THRESHOLD}")
    why = (f"The paper edits at p = {paper.THRESHOLD} with a prior trained on trillions of tokens. Our prior "
           f"puts {_pct(at99, 2)} of the tokens at P ≥ {paper.THRESHOLD} and {_pct(res['share_at_least']['0.9'], 2)} "
           f"at P ≥ 0.9 (the paper's: {_pct(paper.FLAGGED_SHARE)} and {paper.TABLE6_PERCENT[-1]}%), so at "
           f"{paper.THRESHOLD} it would edit {'almost nothing' if at99 < 0.01 else 'a different share of the text'}. ")
    if t["rule"] == "dose_matched":
        return why + f"This run therefore edits at {dose}. Beside it stands {flag}; chapters 6 and 7 read both."
    if t["rule"] == "flag_matched":
        return why + f"This run therefore edits at {flag}. Beside it stands {dose}; chapters 6 and 7 read both."
    return (f"This run edits at the threshold set by its profile, p = {t['value']}"
            f"{' (the paper’s)' if t['value'] == paper.THRESHOLD else ''}. For comparison: {dose}; and {flag}. "
            f"Our prior puts {_pct(at99, 2)} of the tokens at P ≥ {paper.THRESHOLD} and "
            f"{_pct(res['share_at_least']['0.9'], 2)} at P ≥ 0.9 (the paper's: {_pct(paper.FLAGGED_SHARE)} and "
            f"{paper.TABLE6_PERCENT[-1]}%).")


def rule_summary(res: dict) -> str:
    e = res["expected_changes"]
    agree = "agree" if abs(e["z"]) < 3 else "do not agree"
    return (
        f"At threshold {res['threshold']['value']:.4f} with top-{res['sampler']['k']} sampling at "
        f"β = {res['sampler']['beta']}, the engine flagged {_pct(res['flagged_share'], 2)} of the scored tokens and "
        f"changed {_pct(res['changed_share_of_flagged'])} of the flagged ones, {_pct(res['changed_share'], 2)} of all "
        f"tokens (paper: {_pct(paper.FLAGGED_SHARE)} flagged, about "
        f"{paper.CHANGED_OF_FLAGGED[0]:.0%}–{paper.CHANGED_OF_FLAGGED[1]:.0%} of them changed). "
        f"From the prior's own distribution at the flagged positions we expected "
        f"{e['expected']:,.1f} ± {e['sd']:.1f} changed tokens ({_pct(res['expected_changed_share_of_flagged'])} of "
        f"the flagged); the engine changed {e['measured']:,}. Measured and expected **{agree}** "
        f"(z = {e['z']:+.2f}; within 3 standard deviations of the Poisson-binomial count counts as agreement)."
        + (f" Most of our flagged tokens change because they are far less certain than the paper's: the "
           f"top candidate does not dominate the draw. Matching the dose matches how much text is rewritten, "
           f"not how surely the prior predicted it."
           if (res["changed_share_of_flagged"] or 0) > 2 * paper.CHANGED_OF_FLAGGED[1] else "")
    )


def generations_summary(res: dict) -> str:
    g = res["generations"]
    shares = ", ".join(_pct(s, 2) for s in g["flagged_share"])
    lo, hi = g["eta_interval"]
    interval = f"{lo:.3f}–{hi:.3f}" if lo is not None else "unknown"
    theirs = " → ".join(_pct(s, 2) for s in paper_table15_shares())
    return (
        f"Over {len(g['flagged_share'])} generations at threshold {res['threshold']['value']:.4f}, each edited from "
        f"the previous one with a new random stream, "
        f"the flagged share went {shares}. A geometric fit gives η = {g['eta']:.3f} "
        f"({g['level']:.0%} bootstrap interval over documents {interval}) with f₁ = {_pct(g['f1'], 2)}; the paper "
        f"(Table 15): {theirs}, η ≈ {paper.ETA}. Chapter 5's theory takes exactly these two numbers: the edited "
        f"fraction of generation i is f₁ η^(i−1). The perplexity of each generation under the prior went "
        f"{', '.join(f'{v:.1f}' for v in g['ppl'])}: "
        f"{'each pass leaves text the prior finds less predictable' if g['ppl'][-1] > g['ppl'][0] else 'the edits did not make the text less predictable to the prior'}."
    )


def throughput_summary(res: dict) -> str:
    t = res["throughput"]
    where = "the CPU" if t["device"] == "cpu" else t["device"].upper()
    return (f"On {where} ({t['dtype']}), the engine edited {t['tokens']:,} tokens at "
            f"{t['engine_tokens_per_s']:,.0f} tokens/s; its forward passes alone ran at "
            f"{t['forward_tokens_per_s']:,.0f} tokens/s, so the forward pass is "
            f"{t['forward_share']:.0%} of the editing time.")


def prior_is_pretrained(res: dict) -> bool:
    """Whether chapter 4's prior is a pretrained language model (recorded as
    ``edit_prior_pretrained``); results without that key edited with chapter 1's teacher
    unless they name another prior."""
    if "edit_prior_pretrained" in res:
        return bool(res["edit_prior_pretrained"])
    return not str(res.get("edit_prior", res.get("prior", "teacher"))).endswith("teacher")


def claims(res: dict) -> dict:
    """Claim 5 and claim 6 of the paper. The share of tokens at P >= 0.99 is a property of a
    pretrained prior, so a small stand-in cannot test it. How many flagged tokens change and how
    the flagged share decays are checks of the engine: at p = 0.99, top-8 and beta = 1.5 the
    change rate cannot exceed about 8%, and a re-scored edited text flags fewer tokens by
    construction."""
    from ..toolkit.stats import INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, claim

    iv = res["intervals"]["percent"]
    at99 = res["share_at_least"]["0.99"]
    d99 = res["dose"].get(f"{paper.THRESHOLD:g}")
    cof = d99["changed_of_flagged"] if d99 else None
    n99 = round(at99 * res["scored_tokens"])
    lo, hi = paper.CHANGED_OF_FLAGGED
    g = res["generations"]
    e_lo, e_hi = g["eta_interval"]
    if e_lo is None:
        decay = INCONCLUSIVE
    else:
        decay = REPRODUCED if e_hi < 1 else NOT_REPRODUCED if e_lo > 1 else INCONCLUSIVE
    share_ok = REPRODUCED if paper.FLAGGED_SHARE / 2 <= at99 <= 2 * paper.FLAGGED_SHARE else NOT_REPRODUCED
    return {
        "u_shaped": claim(
            "Token probabilities of human text under the prior are U-shaped (both end intervals above every middle one)",
            REPRODUCED if res["u_shaped"] else NOT_REPRODUCED,
            f"[0,0.1): {iv[0]:.1f}%, [0.9,1]: {iv[-1]:.1f}%, middle max {max(iv[1:-1]):.1f}%",
            f"{paper.TABLE6_PERCENT[0]}%, {paper.TABLE6_PERCENT[-1]}%, middle max {max(paper.TABLE6_PERCENT[1:-1])}%",
            metric="token-probability histogram",
            contradicted_by="an end interval at or below a middle one"),
        "flagged_share_at_0.99": claim(
            "About 12.5% of tokens reach P >= 0.99 under a pretrained prior (within a factor of 2)",
            share_ok if prior_is_pretrained(res) else NOT_TESTABLE,
            _pct(at99, 2), _pct(paper.FLAGGED_SHARE), metric="share of tokens at P ≥ 0.99",
            contradicted_by="a pretrained prior's share below 6.25% or above 25% (a stand-in prior "
                            "cannot test it)"),
        "few_flagged_change": claim(
            "At p = 0.99, top-8, beta = 1.5, about 4-8% of flagged tokens change (a check: the rate cannot "
            "exceed about 8% at these settings)",
            NOT_TESTABLE if cof is None or n99 < 100 else REPRODUCED if lo / 2 <= cof <= 2 * hi else NOT_REPRODUCED,
            _pct(cof) + f" of {n99:,} tokens" if cof is not None else f"no token reaches P >= {paper.THRESHOLD}",
            f"{lo:.0%}-{hi:.0%}", metric="changed share of flagged tokens",
            contradicted_by=f"fewer than {lo / 2:.0%} changed (at least 100 flagged tokens needed)", role="check"),
        "flagged_share_decays": claim(
            "The flagged share falls geometrically over editing generations (eta < 1; a check: re-scored "
            "edited text flags fewer tokens by construction)",
            decay, f"eta = {g['eta']:.3f}, interval {e_lo if e_lo is None else round(e_lo, 3)}–"
                   f"{e_hi if e_hi is None else round(e_hi, 3)}", f"eta ≈ {paper.ETA}",
            metric="flagged share per generation", contradicted_by="an eta interval above 1", role="check"),
    }


def headline(res: dict) -> str:
    """The rounded numbers and verdicts the chapter's checked cell prints."""
    g = res["generations"]
    lines = [
        f"scored tokens: {res['scored_tokens']:,}",
        "intervals (%): " + " ".join(f"{v:.1f}" for v in res["intervals"]["percent"]),
        f"quartiles: {res['quantiles']['q25']:.3f} {res['quantiles']['q50']:.3f} {res['quantiles']['q75']:.3f}",
        f"U-shaped: {res['u_shaped']}",
        f"share at P >= 0.9: {_pct(res['share_at_least']['0.9'], 1)}; at P >= 0.99: {_pct(res['share_at_least']['0.99'], 1)}",
        f"dose-matched threshold: {res['dose_matched_threshold']:.3f}; flag-matched: {res['flag_matched_threshold']:.3f}",
        f"edited at {res['threshold']['rule']} = {res['threshold']['value']:.3f}: flagged {_pct(res['flagged_share'], 1)}, "
        f"changed {_pct(res['changed_share_of_flagged'], 0)} of them",
        f"expected vs measured changes agree: {abs(res['expected_changes']['z']) < 3}",
        "flagged share by generation (%): " + " ".join(f"{100 * s:.1f}" for s in g["flagged_share"]),
    ]
    lines += [f"claim {name}: {c['verdict']}" for name, c in res["claims"].items()]
    return "\n".join(lines)


def setup_summary(prior, documents: int, docs_per_domain, domains: Sequence[str], device: str, dtype: str,
                  gpu_overrides: dict) -> str:
    """What this run edits and with what, and what the ``gpu`` profile runs instead."""
    which = "all training documents" if docs_per_domain is None else f"the first {docs_per_domain} per domain"
    source = "chapter 1's teacher" if prior is None else f"`{prior}`"
    gpu = ", ".join(f"`{k} = {v!r}`" for k, v in gpu_overrides.items()) or "nothing"
    return (f"This run scores and edits {documents:,} training documents ({which}, {len(domains)} domains) "
            f"with {source} as the prior, on the {device.upper() if device != 'cpu' else 'CPU'} in {dtype}. "
            f"The `gpu` profile runs the same cells on a CUDA GPU in bf16, with chapter 1's larger `gpu` teacher "
            f"as the stand-in, and sets {gpu}.")


def closing_summary(res: dict) -> str:
    verdicts = "; ".join(f"{c['statement'].split(' (')[0].rstrip('.')}: **{c['verdict']}** "
                         f"(ours {c['ours']}; paper {c['paper']})" for c in res["claims"].values())
    return (f"Claims of the paper, on our numbers: {verdicts}. "
            f"Chapters 6 and 7 read the edited corpora and the stand-in's dose-matched threshold "
            f"({res['stand_in']['dose_matched_threshold']:.4f}) from this chapter's results. The chapter ran in {res['seconds']:.0f} seconds.")
