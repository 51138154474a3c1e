"""Chapter 5's prose and claims, written from its results dict (``results.json``), so
they stay true under every profile."""

from __future__ import annotations

import numpy as np

from ...toolkit import stats

PROCESSES = ("replace", "accumulate", "edit")


def comparison_table(results: dict) -> str:
    """Simulation (mean ± 1.96 SE) against closed form at a few generations, as Markdown."""
    n = results["parameters"]["n_generations"]
    shown = [g for g in (1, 2, 5, 10, 20, 50, 100) if g < n] + [n]
    header = " | ".join(f"{p} (sim ± 1.96 SE) | {p} (closed form)" for p in PROCESSES)
    rows = [f"| generation n | {header} |", "|---" * (1 + 2 * len(PROCESSES)) + "|"]
    for g in shown:
        cells = [f"{results[p]['mean'][g - 1]:.3f} ± {1.96 * results[p]['se'][g - 1]:.3f} | "
                 f"{results[p]['closed_form'][g - 1]:.3f}" for p in PROCESSES]
        rows.append(f"| {g} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main_summary(results: dict) -> str:
    """The paragraph after the first figure: where each process ends up."""
    p, base = results["parameters"], results["base"]
    d, T, sigma, N, f1, eta = p["d"], p["T"], p["sigma"], p["n_generations"], p["f1"], p["eta"]
    rep, acc, edit = (results[k] for k in PROCESSES)
    edit_mass = f1 / (1 - eta) if eta < 1 else float("inf")
    over = [g + 1 for g, c in enumerate(edit["closed_form"]) if c > 2 * base]
    text = (
        f"With $d={d}$, $T={T}$ and $\\sigma={sigma:g}$, one fit on real labels has test error "
        f"base $= {base:.4f}$. After {N} generations, **replace** reaches {rep['mean'][-1]:.3f} "
        f"(closed form $N\\cdot$base $= {rep['closed_form'][-1]:.3f}$): the error keeps growing "
        f"linearly. **Accumulate** reaches {acc['mean'][-1]:.3f} (closed form "
        f"{acc['closed_form'][-1]:.3f}, limit $\\pi^2/6\\cdot$base $= {results['accumulate_limit']:.3f}$). "
        f"**Token editing** with $f_1={f1:g}$ and $\\eta={eta:g}$ reaches {edit['mean'][-1]:.3f} "
        f"(closed form {edit['closed_form'][-1]:.3f}). "
    )
    if eta < 1:
        text += f"Its closed form levels off at base$\\cdot(1 + f_1/(1-\\eta)) = {base * (1 + edit_mass):.3f}$. "
        if edit_mass > 1:
            text += (f"Over all generations the edits add up to $\\sum_i f_i = {edit_mass:.2f}$ times $T$ "
                     "labels. That is more labels than there are, so the masks cannot all be disjoint: the "
                     "premise of Theorem 2 fails at these rates, and "
                     + (f"the closed form itself passes $2\\cdot$base from generation {over[0]} on."
                        if over else f"the closed form will pass $2\\cdot$base after more than {N} generations."))
        else:
            text += (f"The edits add up to $\\sum_i f_i = {edit_mass:.2f}$ times $T$ labels, so disjoint masks "
                     "are possible and the closed form stays below $2\\cdot$base, as Theorem 2 says.")
    else:
        text += ("With $\\eta = 1$ the edits do not decay, and the closed form itself grows linearly, at "
                 "$f_1\\cdot$base per generation.")
    fresh = results["replace_fresh_design"]
    text += (f" In the Dohmatob et al. setting, where every generation draws a **fresh design**, replace "
             f"reaches {fresh['mean'][-1]:.3f} ± {1.96 * fresh['se'][-1]:.3f} at generation {N}: the same "
             "linear law.")
    return text


def growth_table(results: dict) -> str:
    """The honest check, one row per decay and mask type, as Markdown."""
    rows = ["| η | masks | max error / base (generation) | final error / base | closed form final / base "
            "| slope, first third (base/gen) | slope, last third (base/gen) | levels off? |", "|---" * 8 + "|"]
    base = results["base"]
    for e, curves in results["honest_check"]["curves"].items():
        for masks in ("disjoint", "overlapping"):
            gr = curves[masks]
            rows.append(f"| {e} | {masks} | {gr['max_ratio']:.2f} ({gr['generation_of_max']}) | "
                        f"{gr['final_ratio']:.2f} | {curves['closed_form'][-1] / base:.2f} | "
                        f"{gr['early_slope']:.3f} | {gr['late_slope']:.3f} | "
                        f"{'yes' if gr['levels_off'] else 'no'} |")
    return "\n".join(rows)


def _growth_words(gr: dict, n: int) -> str:
    if gr["levels_off"]:
        return (f"levels off at about {gr['final_ratio']:.2f}·base (slope {gr['late_slope']:.3f}·base per "
                f"generation over the last third, against {gr['early_slope']:.3f} over the first)")
    return (f"keeps growing, at {gr['late_slope']:.3f}·base per generation over the last third, and "
            f"reaches {gr['final_ratio']:.2f}·base at generation {n}")


def honest_check_summary(results: dict) -> str:
    """What the literal process does for each decay, and which claims survive."""
    hc, base = results["honest_check"], results["base"]
    n = results["parameters"]["n_generations_check"]
    f1 = results["parameters"]["f1"]
    curves = {float(e): c for e, c in hc["curves"].items()}
    lines = [f"- **η = {e:g}** (closed form {c['closed_form'][-1] / base:.2f}·base at generation {n}): "
             f"with disjoint masks the literal error {_growth_words(c['disjoint'], n)}; with overlapping "
             f"masks it {_growth_words(c['overlapping'], n)}." for e, c in curves.items()]
    masks = ("disjoint", "overlapping")
    decaying = [e for e in curves if e < 1]
    growing = [e for e in decaying if not all(curves[e][m]["levels_off"] for m in masks)]
    claims = []
    if decaying:
        claims.append("**Bounded when edits decay: " + (
            f"holds.** For every η < 1 simulated here ({', '.join(f'{e:g}' for e in decaying)}) the "
            "literal error levels off, with both kinds of mask." if not growing else
            f"not confirmed within {n} generations.** The literal error is still growing for η = "
            f"{', '.join(f'{e:g}' for e in growing)}; run more generations (`n_generations_check`) to see "
            "it level off."))
    over = {(e, m): curves[e][m] for e in curves for m in masks if curves[e][m]["max_ratio"] > 2}
    if over:
        worst = max(over, key=lambda k: over[k]["max_ratio"])
        disjoint = [k for k in over if k[1] == "disjoint" and k[0] < 1]
        claims.append(
            "**The factor 2 of Theorem 2 does not hold for the literal process.** The error exceeds "
            f"2·base in {len(over)} of {2 * len(curves)} cases, at most {over[worst]['max_ratio']:.2f}·base "
            f"(η = {worst[0]:g}, {worst[1]} masks, generation {over[worst]['generation_of_max']})."
            + (f" This includes disjoint masks, where the premise of Theorem 2 holds: with η = "
               f"{disjoint[0][0]:g} they reach {over[disjoint[0]]['max_ratio']:.2f}·base." if disjoint else ""))
    else:
        claims.append("**The factor 2 of Theorem 2 holds in every case simulated here:** the literal error "
                      "stays below 2·base.")
    for e in (e for e in curves if e >= 1):
        grow = [m for m in masks if not curves[e][m]["levels_off"]]
        if grow:
            rates = " and ".join(f"{curves[e][m]['late_slope']:.3f}·base ({m} masks)" for m in grow)
            claims.append(f"**Without decay (η = {e:g}) editing slows collapse but does not prevent it.** The "
                          f"error grows linearly, by {rates} per generation, against 1·base per generation "
                          "for replace.")
        if "disjoint" not in grow:
            claims.append(f"With η = {e:g} and disjoint masks the error levels off only because the edits stop "
                          f"once every label has been edited (after {int(np.ceil(1 / f1))} generations or so).")
    return "\n".join(lines) + "\n\n" + "\n\n".join(claims)


def _inside_theorem2(hc: dict) -> tuple[float, dict] | None:  # the worst (η, curve) with η < 1, disjoint
    return max(((float(e), c["disjoint"]) for e, c in hc["curves"].items() if float(e) < 1),
               key=lambda ec: ec[1]["max_ratio"], default=None)


def theory_claims(results: dict) -> dict:
    """Claim 7 as verdict records. Theorem 1's closed form is an identity here (a check); the factor
    2 is judged on the worst case inside Theorem 2's conditions (η < 1, disjoint masks)."""
    hc, within, base = results["honest_check"], results["within_3se"], results["base"]
    verdict = lambda ok: stats.REPRODUCED if ok else stats.NOT_REPRODUCED  # noqa: E731
    claim = lambda *a, **k: stats.claim(*a, metric="test error / base", **k)  # noqa: E731
    (rep, acc, edit), inside = (results[k] for k in PROCESSES), _inside_theorem2(hc)
    return {
        "replace_linear": claim(
            "Replace: test error grows linearly, n·σ²d/(T−d−1)", verdict(within["replace"]),
            ours=f"{rep['mean'][-1] / base:.2f}·base at generation {len(rep['mean'])}", paper="n·base (Eq. 7)",
            contradicted_by="the mean more than 3 SE from n·base at some generation"),
        "accumulate_bounded": claim(
            "Accumulate: bounded by π²/6·σ²d/(T−d−1)",
            verdict(within["accumulate"] and max(acc["mean"]) <= results["accumulate_limit"] * 1.01),
            ours=f"{acc['mean'][-1] / base:.3f}·base", paper="≤ 1.645·base",
            contradicted_by="the mean above π²/6·base or more than 3 SE from the closed form"),
        "edit_closed_form": claim(
            "Token editing: Theorem 1's closed form (all-or-nothing masks; a check of the simulation)",
            verdict(within["edit"] and results["edit"]["theorem1_exact"]),
            ours=f"{edit['mean'][-1] / base:.3f}·base, exact in every trial: {results['edit']['theorem1_exact']}",
            paper="base·(1 + Σ f_i)", contradicted_by="nothing: it is an identity", role="check"),
        "edit_bounded_literal": claim(
            "Token editing stays bounded when edits decay (literal Eq. 3, partial masks)",
            stats.REPRODUCED if hc["bounded_when_decaying"] else stats.INCONCLUSIVE,
            ours=f"max {hc['max_ratio_to_base']:.2f}·base over every case checked", paper="bounded",
            contradicted_by="nothing here: an error still growing may level off later (inconclusive)"),
        "factor_two": claim(
            "Token editing stays within 2·σ²d/(T−d−1) where Theorem 2 applies (η < 1, disjoint masks)",
            stats.NOT_RUN if inside is None else verdict(inside[1]["max_ratio"] <= 2),
            ours="no case with η < 1 simulated" if inside is None else f"max {inside[1]['max_ratio']:.2f}·base "
                 f"at η = {inside[0]:g}, disjoint masks (every case: {hc['max_ratio_to_base']:.2f}·base)",
            paper="≤ 2·base", contradicted_by="an error above 2·base inside Theorem 2's conditions"),
    }


def closing(results: dict) -> str:
    """The chapter's last paragraph: which message survives the honest check."""
    hc, n = results["honest_check"], results["parameters"]["n_generations_check"]
    text = ("In short, the qualitative message of the theory survives the check: when the edits decay "
            "geometrically, so that the total number of edited labels is finite, the literal error stays "
            "bounded." if hc["bounded_when_decaying"] else
            f"In short, the qualitative message of the theory is not confirmed within {n} generations: the "
            "literal error was still growing for a decaying edit rate (run more generations to see whether "
            "it levels off).")
    if (inside := _inside_theorem2(hc)) and inside[1]["max_ratio"] > 2:
        text += (f" The constant 2 of Theorem 2 does not, even inside its conditions: with η = {inside[0]:g} and "
                 f"disjoint masks the literal error reaches {inside[1]['max_ratio']:.2f}·base.")
    elif hc["factor2_exceeded"]:
        text += (" The constant 2 of Theorem 2 holds inside its conditions (η < 1, disjoint masks); outside "
                 f"them the literal process reaches {hc['max_ratio_to_base']:.2f}·base.")
    else:
        text += " The constant 2 of Theorem 2 held in every case simulated here."
    return text


def headline(results: dict) -> str:
    """Rounded simulated numbers and verdicts (the cell nbval compares)."""
    n = results["parameters"]["n_generations"]
    lines = [f"{p} at generation {n}: {results[p]['mean'][-1]:.3f} (closed form "
             f"{results[p]['closed_form'][-1]:.3f})" for p in PROCESSES]
    lines.append(f"honest check: max {results['honest_check']['max_ratio_to_base']:.2f}·base")
    lines += [f"{name}: {c['verdict']}" for name, c in results["claims"].items()]
    return "\n".join(lines)
