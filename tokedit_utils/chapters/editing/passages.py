"""Chapter 4's edited passages and its two priors side by side: the stand-in's edit, the
tables, the examples and the files the chapter writes."""

from __future__ import annotations

from typing import Sequence
import dataclasses
import html

from ...toedit import stored
from ...toolkit import paper
from ...toolkit.stats import pct as _pct
from ...toolkit.edits import _STYLE, diff_html, non_word_share, words
from .measure import (ScoredTokens, dose_matched_threshold, flag_matched_threshold, paper_table15_shares,
                      score_tokens, share_at_least)


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

    from ...toolkit.data import write_jsonl_gz
    from ...toolkit.paths import write_json

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


