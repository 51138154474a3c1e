"""Chapter 2's figures, and the tables drawn beside them."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ...toolkit import paper, plotting


def ratio_colors(ratios: Sequence[float]) -> dict:
    """One colour per synthetic ratio (viridis, darker for more synthetic text)."""
    import matplotlib.pyplot as plt

    return dict(zip(ratios, plt.cm.viridis_r(np.linspace(0.1, 0.95, len(ratios)))))


def _arm(runs: list[dict], ratio: float) -> list[dict]:
    return [run for run in runs if run["ratio"] == ratio]


def _mean_and_range(ax, runs: list[dict], ratios: Sequence[float], colors: dict, curve: str,
                    value: str, **style) -> None:
    """One line per mixture: the seeds' mean of ``run[curve][i][value]`` against tokens seen
    (millions), with the seeds' range shaded."""
    for r in ratios:
        curves = [run[curve] for run in _arm(runs, r)]
        x = np.array([p["tokens"] for p in curves[0]]) / 1e6
        y = np.array([[p[value] for p in c] for c in curves])
        ax.plot(x, y.mean(0), color=colors[r], label=f"{r:.0%} synthetic", **style)
        ax.fill_between(x, y.min(0), y.max(0), color=colors[r], alpha=0.25, lw=0)


def plot_training_loss(runs: list[dict], ratios: Sequence[float], colors: dict):
    """Paper Fig. 7: training loss per mixture, the mean over seeds and their range."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    _mean_and_range(ax, runs, ratios, colors, "loss_curve", "loss")
    ax.set_xlabel("training tokens seen (millions)")
    ax.set_ylabel("training loss (nats / token)")
    ax.set_title("Training loss by synthetic share")
    ax.legend(title="mixture")
    return fig


def ppl_table(runs: list[dict], ratios: Sequence[float], domains: Sequence[str],
              teacher_ppl: dict) -> pd.DataFrame:
    """Held-out PPL per domain and arm (mean over seeds), with the seeds' spread, and the
    teacher's row."""
    from . import spread

    rows = []
    for r in ratios:
        arm_runs = _arm(runs, r)
        row = {"synthetic ratio": f"{r:.0%}"}
        row.update({d: np.mean([run["ppl_by_domain"][d] for run in arm_runs]) for d in domains})
        s = spread([run["ppl_mean"] for run in arm_runs])
        row.update({"mean": s["mean"], "seed min": s["min"], "seed max": s["max"],
                    "seed SD": s["sd"]})
        rows.append(row)
    rows.append({"synthetic ratio": "teacher", **teacher_ppl,
                 "mean": np.mean(list(teacher_ppl.values()))})
    return pd.DataFrame(rows).set_index("synthetic ratio")


def plot_ppl_by_ratio(table: pd.DataFrame, ratios: Sequence[float], domains: Sequence[str]):
    """PPL per domain against the synthetic share (the mean with its seed range), beside
    the direction of the paper's Table 1."""
    import matplotlib.pyplot as plt

    ppl_mean = table["mean"].to_numpy()[: len(ratios)]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for d in domains:
        ax.plot(ratios, table[d][: len(ratios)], marker=".", lw=1, alpha=0.6, label=d)
    low, high = table["seed min"][: len(ratios)], table["seed max"][: len(ratios)]
    ax.errorbar(ratios, ppl_mean, yerr=np.vstack([ppl_mean - low, high - ppl_mean]),
                color="black", lw=2.5, marker="o", capsize=4, label="mean (seed range)")
    ax.set_xlabel("synthetic share of the training tokens")
    ax.set_ylabel("held-out perplexity (per token)")
    ax.set_xticks(ratios, [f"{r:.0%}" for r in ratios])
    ax.set_title("Perplexity on human test text")
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    ax2.plot(ratios, ppl_mean / ppl_mean[0], marker="o", color=plotting.PALETTE["human"],
             label="ours (mean over domains)")
    ax2.plot(paper.MIX_RATIOS, np.array(paper.TABLE1_PPL_MEAN) / paper.TABLE1_PPL_MEAN[0],
             marker="s", ls="--", color="grey", label="paper, GPT-2 124M (Table 1)")
    ax2.axhline(1, color="black", lw=0.8)
    ax2.set_xlabel("synthetic share of the training tokens")
    ax2.set_ylabel("PPL relative to 0% synthetic")
    ax2.set_xticks(ratios, [f"{r:.0%}" for r in ratios])
    ax2.set_title("Direction only: ours vs the paper")
    ax2.legend(fontsize=8)
    return fig


def paper_table(ppl_mean: np.ndarray, ratios: Sequence[float]) -> pd.DataFrame:
    """Our mean PPL per arm beside the paper's Table 1, each relative to its 0% arm."""
    paper_ppl = dict(zip(paper.MIX_RATIOS, paper.TABLE1_PPL_MEAN))
    table = pd.DataFrame(
        {"ours: mean PPL": ppl_mean, "ours: relative to 0%": ppl_mean / ppl_mean[0],
         "paper: mean PPL (Table 1)": [paper_ppl.get(r, np.nan) for r in ratios]},
        index=pd.Index([f"{r:.0%}" for r in ratios], name="synthetic ratio"),
    )
    table["paper: relative to 0%"] = table["paper: mean PPL (Table 1)"] / paper_ppl[0.0]
    return table


def plot_ppl_by_epoch(runs: list[dict], ratios: Sequence[float], colors: dict):
    """Held-out PPL after each epoch per mixture, the mean over seeds and their range."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    _mean_and_range(ax, runs, ratios, colors, "ppl_curve", "ppl_mean", marker="o")
    ax.set_xlabel("training tokens seen (millions; one point per epoch)")
    ax.set_ylabel("held-out perplexity, mean over domains")
    ax.set_title("Perplexity after each epoch")
    ax.legend(title="mixture")
    return fig


def epoch_table(runs: list[dict], ratios: Sequence[float]) -> pd.DataFrame:
    """Mean held-out PPL over seeds, per epoch (rows) and mixture (columns)."""
    n_epochs = len(runs[0]["ppl_curve"])
    table = pd.DataFrame(
        {f"{r:.0%}": [np.mean([run["ppl_curve"][e]["ppl_mean"] for run in _arm(runs, r)])
                      for e in range(n_epochs)]
         for r in ratios},
        index=pd.Index([p["epoch"] for p in runs[0]["ppl_curve"]], name="epoch"),
    )
    table.columns.name = "synthetic ratio"
    return table


def gap_table(gaps: dict) -> pd.DataFrame:
    """The synthetic gap (pure synthetic over pure human PPL) per sampling temperature."""
    table = pd.DataFrame({
        "PPL, pure synthetic / pure human": {t: np.exp(g["mean"]) for t, g in gaps.items()},
        "log ratio": {t: g["mean"] for t, g in gaps.items()},
        "SE": {t: g["se"] for t, g in gaps.items()},
        "seeds": {t: g["n"] for t, g in gaps.items()},
    })
    table.index.name = "sampling temperature"
    return table


def plot_gaps(gaps: dict, main_temperature: float):
    """The synthetic gap per temperature (± SE), the main corpus's in colour, the paper's."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    temps = list(gaps)
    ax.bar(
        [f"T = {t:g}" for t in temps],
        [np.exp(gaps[t]["mean"]) for t in temps],
        yerr=[np.exp(gaps[t]["mean"]) * (gaps[t]["se"] or 0) for t in temps],
        capsize=4,
        color=[plotting.PALETTE["synthetic"] if t == main_temperature else "grey"
               for t in temps],
    )
    ax.axhline(1, color="black", lw=0.8)
    ax.axhline(paper.TABLE1_PPL_MEAN[-1] / paper.TABLE1_PPL_MEAN[0], color="grey", ls="--",
               label="paper (Table 1)")
    ax.set_ylabel("PPL of pure synthetic / pure human")
    ax.set_title("The synthetic gap by sampling temperature")
    ax.legend(fontsize=8)
    return fig


def continuation_example(task_dir: Path, name: str, items: int, choices: int):
    """Print the first item's passage of the continuation task ``name`` (``items`` of them)
    and return its choices as a table (a Styler), or print why there is none."""
    if not items:
        print("The test split is too small for a continuation item (each needs "
              f"{choices} test documents of one domain).")
        return None
    example = pd.read_json(Path(task_dir) / f"{name}.jsonl", lines=True).iloc[0]
    print(f"{example['domain']} passage (its last 300 characters):")
    print(f"…{example['context'][-300:]}")
    return pd.DataFrame(
        {"choice": example["choices"],
         "true continuation": [i == example["label"] for i in range(choices)]},
        index=pd.RangeIndex(1, choices + 1),
    ).style.set_properties(**{"text-align": "left", "white-space": "pre-wrap"})


def plot_tasks(teacher_tasks: dict, runs: list[dict], ratios: Sequence[float], counted: Sequence[str],
               chance: float, colors: dict):
    """One panel per task: each arm's mean accuracy with its seed SD, the teacher and chance."""
    import matplotlib.pyplot as plt

    from . import by_seed

    fig, axes = plt.subplots(1, len(teacher_tasks), figsize=(5 * len(teacher_tasks), 3.8), squeeze=False)
    for ax, t in zip(axes[0], teacher_tasks):
        acc = by_seed(runs, ratios, lambda run, t=t: 100 * run["tasks"][t]["acc_mi"])
        ax.bar([f"{r:.0%}" for r in ratios], acc.mean(0), color=[colors[r] for r in ratios],
               yerr=acc.std(0, ddof=1) if len(acc) > 1 else None, capsize=4)
        ax.axhline(100 * teacher_tasks[t]["acc_mi"], color="black", lw=1.2, label="teacher")
        ax.axhline(100 * chance, color="grey", ls="--", label="chance")
        ax.set_xlabel("synthetic share of the training tokens")
        ax.set_ylabel("zero-shot acc_mutual_info (%), ± seed SD")
        status = "counts" if t in counted else "excluded: teacher near chance"
        ax.set_title(f"{t.replace('tokedit_', '').replace('_', ' ')} ({status})", fontsize=10)
        ax.legend(fontsize=8, loc="lower left", framealpha=0.9)
    return fig
