"""Non-iterative model collapse (paper section 3.1): students pre-trained from scratch on
human/synthetic mixtures, their training loss, their perplexity on held-out human text, and
the spread over seeds.

Held-out perplexity is the book's one definition (:mod:`tokedit_utils.toolkit.evaluation`):
blocks of ``block_size`` tokens cut from each domain's test text, at most
``max_tokens_per_domain`` tokens per domain. The Trainer computes it after every epoch, so the
per-epoch curve and the final table come from one measurement.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ...toolkit import paper, stats
from .figures import (  # noqa: F401
    continuation_example,
    epoch_table,
    gap_table,
    paper_table,
    plot_gaps,
    plot_ppl_by_epoch,
    plot_ppl_by_ratio,
    plot_tasks,
    plot_training_loss,
    ppl_table,
    ratio_colors,
)



def spread(values: Sequence[float]) -> dict:
    """Mean, min, max and sample SD (None for one value) of a metric over seeds."""
    values = [float(v) for v in values]
    return {"values": values, "mean": float(np.mean(values)), "min": min(values), "max": max(values),
            "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None}


def arm_table(runs: list[dict], ratios: Sequence[float], metric) -> pd.DataFrame:
    """One row per ratio: mean, min, max, SD and number of seeds of ``metric(run)``."""
    rows = []
    for r in ratios:
        s = spread([metric(run) for run in runs if run["ratio"] == r])
        rows.append({"synthetic ratio": r, "mean": s["mean"], "min": s["min"], "max": s["max"], "sd": s["sd"], "seeds": len(s["values"])})
    return pd.DataFrame(rows).set_index("synthetic ratio")


def is_monotone(values: Sequence[float], increasing: bool = True) -> bool:
    pairs = list(zip(values, values[1:]))
    return all(b > a for a, b in pairs) if increasing else all(b < a for a, b in pairs)


# --------------------------------------------------------------------------- claims with statistics


def by_seed(runs: list[dict], ratios: Sequence[float], metric, seeds: Sequence[int] | None = None) -> np.ndarray:
    """``metric(run)`` as an array (seeds x ratios): row i holds seed i's run of every arm, so
    columns are paired arms (same initialization and data order)."""
    seeds = sorted({run["seed"] for run in runs}) if seeds is None else list(seeds)
    table = {(run["ratio"], run["seed"]): metric(run) for run in runs}
    missing = [(r, s) for s in seeds for r in ratios if (r, s) not in table]
    if missing:
        raise ValueError(f"arms are not paired: no run for (ratio, seed) {missing}")
    return np.array([[table[r, s] for r in ratios] for s in seeds], dtype=float)


def slopes(values: np.ndarray, ratios: Sequence[float]) -> np.ndarray:
    """Least-squares slope of each row of ``values`` against ``ratios``."""
    x = np.asarray(ratios, dtype=float)
    x = x - x.mean()
    return (values - values.mean(axis=1, keepdims=True)) @ x / (x @ x)


#: The task metric the usability gate certifies and the task claim is tested on: lm-eval's
#: ``acc_mutual_info`` (stored as ``acc_mi``), log P(choice | question) - log P(choice).
TASK_METRIC, TASK_METRIC_NAME = "acc_mi", "acc_mutual_info"


def collapse_claims(runs: list[dict], ratios: Sequence[float], task_names: Sequence[str],
                    close_margin: float) -> dict:
    """Claim 1 of the paper, tested on paired seeds.

    Trends are per-seed least-squares slopes against the synthetic share (of log PPL, so a
    slope of 0.1 is about +10% PPL from 0 to 100% synthetic), tested against zero over seeds.
    Pairwise claims compare two arms seed by seed; the sub-tests of one claim (adjacent arms at
    every epoch, every task) are Holm-adjusted together. Every record carries the difference,
    its standard error, the minimum detectable effect (MDE) of the test, the metric and the
    result that would have contradicted the claim. More epochs lowering PPL is shown as a
    check, not a claim: under-trained students cannot fail it.
    """
    log_ppl = np.log(by_seed(runs, ratios, lambda r: r["ppl_mean"]))
    loss = by_seed(runs, ratios, lambda r: r["final_train_loss"])
    i0, i100 = ratios.index(0.0), ratios.index(1.0)
    out = {}
    d = stats.paired_difference(slopes(loss, ratios))
    out["train_loss_falls"] = stats.claim(
        "Training loss falls as the synthetic share grows", stats.direction_verdict(d, -1),
        ours=f"slope {stats.format_difference(d)} nats per unit share", paper="falls (Fig. 7)",
        metric="final training loss", contradicted_by="a significantly positive slope", test=d)
    d = stats.paired_difference(slopes(log_ppl, ratios))
    out["ppl_rises"] = stats.claim(
        "Held-out PPL on human text rises with the synthetic share", stats.direction_verdict(d, +1),
        ours=f"slope of log PPL {stats.format_difference(d, digits=3)}",
        paper=f"rises, {paper.TABLE1_PPL_MEAN[0]} to {paper.TABLE1_PPL_MEAN[-1]} (Table 1)",
        metric="held-out log PPL", contradicted_by="a significantly negative slope", test=d)
    vs_human = stats.paired_difference(log_ppl[:, i100], log_ppl[:, i0])
    others = [i for i in range(len(ratios)) if i != i100]
    runner_up = max(others, key=lambda i: log_ppl[:, i].mean())
    d = stats.paired_difference(log_ppl[:, i100], log_ppl[:, runner_up])
    out["pure_synthetic_worst"] = stats.claim(
        "Pure synthetic data gives the highest PPL", stats.direction_verdict(d, +1),
        ours=(f"{math.exp(vs_human['mean']):.2f}x the PPL of pure human data; against the next worst arm "
              f"({ratios[runner_up]:.0%}) log ratio {stats.format_difference(d, digits=3)}"),
        paper=f"{paper.TABLE1_PPL_MEAN[-1] / paper.TABLE1_PPL_MEAN[0]:.2f}x (Table 1)", metric="held-out log PPL",
        contradicted_by="another arm significantly above the pure synthetic arm", test=d, vs_human=vs_human)
    if 0.25 in ratios:
        d = stats.paired_difference(log_ppl[:, ratios.index(0.25)], log_ppl[:, i0])
        out["quarter_close_to_human"] = stats.claim(
            f"25% synthetic data is close to human data (within {close_margin:.0%} PPL)",
            stats.equivalence_verdict(d, math.log1p(close_margin)),
            ours=f"{math.exp(d['mean']):.3f}x (log ratio {stats.format_difference(d, digits=3)})",
            paper=f"{paper.TABLE1_PPL_MEAN[1] / paper.TABLE1_PPL_MEAN[0]:.3f}x (Table 1)", metric="held-out log PPL",
            contradicted_by=f"the whole 95% interval of the PPL ratio beyond {close_margin:.0%}", test=d)
    n_epochs = len(runs[0]["ppl_curve"])
    per_epoch = [np.log(by_seed(runs, ratios, lambda r, e=e: r["ppl_curve"][e]["ppl_mean"])) for e in range(n_epochs)]
    adjacent = stats.adjust([stats.paired_difference(v[:, i + 1], v[:, i])
                             for v in per_epoch for i in range(len(ratios) - 1)])
    steps = len(ratios) - 1
    out["ordering_every_epoch"] = stats.claim(
        "Each step up in synthetic share raises PPL, at every epoch",
        stats.combine([stats.direction_verdict(d, +1) for d in adjacent]),
        ours="log PPL, each arm minus the one below it, per epoch: " + "; ".join(
            f"epoch {e + 1}: " + ", ".join(f"{d['mean']:+.3f}" for d in adjacent[e * steps:(e + 1) * steps])
            for e in range(n_epochs)),
        paper="holds over 5 epochs (Tables 13, 17)", metric="held-out log PPL",
        contradicted_by="an arm with significantly lower PPL than the arm below it, at any epoch "
                        f"({len(adjacent)} Holm-adjusted tests)", tests=adjacent)
    if n_epochs > 1:
        drops = [stats.paired_difference(np.log(by_seed(runs, [r], lambda run: run["ppl_curve"][-1]["ppl_mean"]))[:, 0],
                                         np.log(by_seed(runs, [r], lambda run: run["ppl_curve"][0]["ppl_mean"]))[:, 0])
                 for r in ratios]
        out["more_epochs_lower_ppl"] = stats.claim(
            "More epochs lower every mixture's PPL (a check of training, not a test of the paper)",
            stats.combine([stats.direction_verdict(d, -1) for d in stats.adjust(drops)]),
            ours="log PPL change, first to last epoch: " + ", ".join(f"{d['mean']:+.3f}" for d in drops),
            paper="lower for every mixture (Tables 13, 17)", metric="held-out log PPL",
            contradicted_by="a mixture whose PPL rises with training (under-trained students make "
                            "this nearly impossible)", role="check", tests=drops)
    task_tests = stats.adjust([stats.paired_difference(
        by_seed(runs, [1.0], lambda r, t=t: r["tasks"][t][TASK_METRIC])[:, 0],
        by_seed(runs, [0.0], lambda r, t=t: r["tasks"][t][TASK_METRIC])[:, 0]) for t in task_names])
    if task_tests:
        out["pure_synthetic_lowest_task_acc"] = stats.claim(
            "Pure synthetic data scores lowest downstream",
            stats.combine([stats.direction_verdict(d, -1) for d in task_tests]),
            ours="; ".join(f"{t.replace('tokedit_', '')}: {stats.format_difference(d, ' pts', 1, scale=100)}"
                           for t, d in zip(task_names, task_tests)),
            paper=f"{paper.TABLE9_GPT2_ACC[-1] - paper.TABLE9_GPT2_ACC[0]:+.2f} pts average (Table 9)",
            metric=TASK_METRIC_NAME,
            contradicted_by="pure synthetic students scoring significantly higher than pure human ones "
                            "(Holm-adjusted over tasks)", tests=dict(zip(task_names, task_tests)))
    return out


def temperature_gaps(runs: list[dict], sweep_runs: list[dict], main_temperature: float) -> dict:
    """PPL of pure synthetic data over pure human data, per sampling temperature, paired by seed:
    ``{temperature: paired log-ratio difference}`` (``exp(mean)`` is the PPL factor)."""
    human = {r["seed"]: r["ppl_mean"] for r in runs if r["ratio"] == 0.0}
    arms = {main_temperature: [r for r in runs if r["ratio"] == 1.0]}
    for r in sweep_runs:
        arms.setdefault(r["temperature"], []).append(r)
    out = {}
    for temp, arm in sorted(arms.items()):
        arm = sorted(arm, key=lambda r: r["seed"])
        out[temp] = stats.paired_difference([math.log(r["ppl_mean"]) for r in arm],
                                            [math.log(human[r["seed"]]) for r in arm])
    return out


def power_report(runs: list[dict], ratios: Sequence[float], teacher_ppl: float, teacher_tasks: dict,
                 chance: float, min_margin: float = 0.15) -> dict:
    """Whether the instrument can measure the claims (issue targets): the pure-human student's PPL
    against the teacher's on the same held-out text, the seed SD of each arm's mean PPL in percent
    of its mean, and each task's teacher accuracy against chance (a task counts only if the
    teacher beats chance by ``min_margin``)."""
    ppl = by_seed(runs, ratios, lambda r: r["ppl_mean"])
    human = ppl[:, ratios.index(0.0)].mean()
    return {
        "teacher_ppl": teacher_ppl,
        "student_to_teacher_ppl": float(human / teacher_ppl),
        "seed_sd_pct": {f"{r:.2f}": float(100 * ppl[:, i].std(ddof=1) / ppl[:, i].mean()) if len(ppl) > 1 else None
                        for i, r in enumerate(ratios)},
        "teacher_tasks": {t: {"acc": s["acc"], "chance": chance, "margin": s["acc"] - chance,
                              "usable": s["acc"] - chance >= min_margin} for t, s in teacher_tasks.items()},
    }


# --------------------------------------------------------------------------- downstream tasks


def task_table(teacher_tasks: dict, runs: list[dict], ratios: Sequence[float]) -> pd.DataFrame:
    """acc_mutual_info (%) of the teacher and of each arm (mean over seeds, and the seed range)."""
    rows = [{"model": "teacher", **{t: f"{100 * s['acc_mi']:.1f}" for t, s in teacher_tasks.items()}}]
    for r in ratios:
        accs = {t: [100 * run["tasks"][t]["acc_mi"] for run in runs if run["ratio"] == r] for t in teacher_tasks}
        rows.append({"model": f"{r:.0%} synthetic",
                     **{t: f"{np.mean(a):.1f} ({min(a):.1f}–{max(a):.1f})" for t, a in accs.items()}})
    table = pd.DataFrame(rows).set_index("model")
    table.columns = [f"{t.replace('tokedit_', '')}, acc_mutual_info %" for t in table.columns]
    return table


# --------------------------------------------------------------------------- prose from results


def scale_note(student_parameters: int, tokens_seen: int, teacher_parameters: int) -> str:
    """Why the paper's numbers are shown for direction only, with this run's sizes."""
    return (
        "The paper's numbers are shown for **direction only**: its students have 124M parameters and "
        f"saw 8.4 to 42 billion tokens of web text; ours have {student_parameters / 1e6:.2f}M parameters "
        f"and see {tokens_seen / 1e6:.2f}M tokens, and our synthetic text comes from a teacher of "
        f"{teacher_parameters / 1e6:.2f}M parameters, not Mixtral-8x7B. What can carry over is the shape: "
        "whether perplexity rises with the synthetic share, and whether pure synthetic data stands apart."
    )


def headline(results: dict) -> str:
    """The chapter's rounded headline numbers and verdicts (the cell nbval compares)."""
    lines = ["mean held-out PPL by synthetic ratio: "
             + ", ".join(f"{r:.0%} {p:.1f}" for r, p in zip(results["ratios"], results["ppl_mean"])),
             "final training loss: " + ", ".join(f"{v:.3f}" for v in results["final_train_loss"]),
             f"pure-human student / teacher PPL: {results['power']['student_to_teacher_ppl']:.2f}"]
    lines += [f"{name}: {c['verdict']}" for name, c in results["claims"].items()]
    return "\n".join(lines)


def summary(results: dict) -> str:
    """The chapter's closing paragraphs, written from ``results.json``."""
    res, power, claims = results, results["power"], results["claims"]
    sd = {r: v for r, v in power["seed_sd_pct"].items() if v is not None}
    worst_sd = max(sd.values()) if sd else None
    verdicts = {}
    for name, c in claims.items():
        verdicts.setdefault(c["verdict"], []).append(c["statement"][0].lower() + c["statement"][1:])
    parts = [
        f"Over {len(res['ratios'])} mixtures and {len(res['seeds'])} paired seeds, students of "
        f"{res['student']['parameters']:,} parameters, each trained on {res['student']['tokens_seen']:,} "
        f"tokens, reached a mean held-out PPL of "
        + ", ".join(f"{p:.1f}" for p in res["ppl_mean"])
        + f" from {res['ratios'][0]:.0%} to {res['ratios'][-1]:.0%} synthetic data "
        f"(paper: {', '.join(str(p) for p in res['paper']['ppl_mean_table1'])}).",
        f"The measuring instrument: the pure-human student's PPL is {power['student_to_teacher_ppl']:.2f} "
        f"times the teacher's on the same text"
        + (f", and the largest seed SD of an arm's mean PPL is {worst_sd:.1f}% of the mean" if worst_sd is not None else "")
        + ". Tasks on which the teacher beats chance by the required margin: "
        + (", ".join(t.replace("tokedit_", "") for t in res["tasks_counted"]) or "none, so no task claim is tested")
        + ".",
    ]
    for verdict in stats.VERDICTS:
        if verdicts.get(verdict):
            parts.append(f"**{verdict.capitalize()}:** " + "; ".join(verdicts[verdict]) + ".")
    gaps = res["temperature_gaps"]
    if len(gaps) > 1:
        parts.append("The synthetic gap depends on decoding: pure synthetic data reaches "
                     + ", ".join(f"{math.exp(g['mean']):.2f}x the human PPL at T = {t}" for t, g in gaps.items())
                     + f" (main corpus: T = {res['main_temperature']:g}).")
    parts.append(f"The chapter ran in {res['seconds'] / 60:.1f} minutes, "
                 f"{res['train_seconds'] / 60:.1f} of them training.")
    return "\n\n".join(parts)


def written_comparison(runs: list[dict], written_runs: list[dict]) -> dict:
    """Per ratio, students on the instruct-written mixture against students on the teacher's
    at the same ratio and seed: the paired difference of log held-out PPL (``{}`` without
    written arms)."""
    out = {}
    for ratio in sorted({run["ratio"] for run in written_runs}):
        written = {run["seed"]: run["ppl_mean"] for run in written_runs if run["ratio"] == ratio}
        sampled = {run["seed"]: run["ppl_mean"] for run in runs if run["ratio"] == ratio and run["seed"] in written}
        seeds = sorted(sampled)
        diff = stats.paired_difference(np.log([written[s] for s in seeds]), np.log([sampled[s] for s in seeds]))
        out[f"{ratio:.2f}"] = {"written_ppl": float(np.mean([written[s] for s in seeds])),
                               "sampled_ppl": float(np.mean([sampled[s] for s in seeds])), "log_ratio": diff}
    return out


def written_table(comparison: dict):
    """The comparison as a table (None without written arms)."""
    if not comparison:
        return None
    return pd.DataFrame({f"{float(r):.0%}": {
        "PPL, teacher-sampled": c["sampled_ppl"], "PPL, instruct-written": c["written_ppl"],
        "log PPL ratio, written - sampled": stats.format_difference(c["log_ratio"], digits=3)}
        for r, c in comparison.items()}).T.rename_axis("synthetic ratio")
