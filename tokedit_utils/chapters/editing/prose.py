"""Chapter 4's paragraphs and claims, rendered from its results."""

from __future__ import annotations

from typing import Sequence

from ...toolkit import paper
from ...toolkit.stats import pct as _pct
from .measure import paper_table15_shares


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
    from ...toolkit.stats import INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, claim

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
