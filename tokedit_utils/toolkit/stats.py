"""Small effects need statistics: paired differences over seeds, their standard error, the
minimum detectable effect, and verdicts that can say "inconclusive".

Every chapter that compares arms uses these, so a verdict means the same thing everywhere:

* :func:`paired_difference` — arms that share seeds (same initialization, same data order
  per seed): the per-seed differences, their mean, standard error, a paired t-test, a
  confidence interval and the minimum detectable effect (MDE) at the given power.
* :func:`direction_verdict` — a claim that an effect has a sign ("PPL rises"):
  *reproduced* when the difference is significant in the claimed direction, *not
  reproduced* when it is significant the other way, *inconclusive* otherwise (the effect
  is below what the seeds can detect).
* :func:`equivalence_verdict` — a claim that two arms do not differ ("samplers are
  comparable"): *reproduced* when the whole confidence interval lies within ``±margin``,
  *not reproduced* when the difference is significant and larger than the margin,
  *inconclusive* otherwise.
* :func:`claim` — the record a chapter writes into ``results.json`` under ``claims``; the
  verdict page of the book reads these records.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats as _st

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)


def paired_difference(treatment: Sequence[float], control: Sequence[float] | None = None,
                      alpha: float = 0.05, power: float = 0.8) -> dict:
    """Mean of ``treatment[i] - control[i]`` over seeds with its uncertainty.

    ``control=None`` tests the values themselves against zero (for example per-seed slopes).
    With one seed the spread is unknown: ``se``, ``p_value``, ``ci`` and ``mde`` are None.
    The MDE is the smallest true mean difference that a two-sided paired t-test at level
    ``alpha`` would detect with probability ``power``, given the measured spread:
    ``(t_{1-alpha/2, n-1} + t_{power, n-1}) * se``.
    """
    t = np.asarray(treatment, dtype=float)
    diffs = t if control is None else t - np.asarray(control, dtype=float)
    if control is not None and len(t) != len(control):
        raise ValueError(f"paired arms need the same seeds: {len(t)} vs {len(control)} values")
    n = len(diffs)
    if n == 0:
        raise ValueError("no values to compare")
    out = {"n": n, "diffs": diffs.tolist(), "mean": float(diffs.mean()), "sd": None, "se": None,
           "t": None, "p_value": None, "ci": None, "mde": None, "alpha": alpha, "power": power}
    if n < 2:
        return out
    sd = float(diffs.std(ddof=1))
    se = sd / math.sqrt(n)
    df = n - 1
    crit = float(_st.t.ppf(1 - alpha / 2, df))
    out.update(sd=sd, se=se, ci=[out["mean"] - crit * se, out["mean"] + crit * se],
               mde=(crit + float(_st.t.ppf(power, df))) * se)
    if se == 0:
        out.update(t=math.copysign(math.inf, out["mean"]) if out["mean"] else 0.0,
                   p_value=0.0 if out["mean"] else 1.0)
    else:
        out["t"] = out["mean"] / se
        out["p_value"] = float(2 * _st.t.sf(abs(out["t"]), df))
    return out


def direction_verdict(diff: dict, expected_sign: int) -> str:
    """Verdict on "the difference has sign ``expected_sign``" (+1 or -1)."""
    if expected_sign not in (1, -1):
        raise ValueError("expected_sign is +1 or -1")
    if diff["p_value"] is None or diff["p_value"] >= diff["alpha"]:
        return INCONCLUSIVE
    return REPRODUCED if np.sign(diff["mean"]) == expected_sign else NOT_REPRODUCED


def equivalence_verdict(diff: dict, margin: float) -> str:
    """Verdict on "the arms do not differ by more than ``margin``"."""
    if diff["ci"] is None:
        return INCONCLUSIVE
    low, high = diff["ci"]
    if -margin <= low and high <= margin:
        return REPRODUCED
    if diff["p_value"] < diff["alpha"] and abs(diff["mean"]) > margin:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def claim(statement: str, verdict: str, ours: str, paper: str, **details) -> dict:
    """One claim as a chapter records it: what is claimed, the verdict, our number and the
    paper's as short phrases, and any numbers behind them (difference, se, MDE, seeds)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
    return {"statement": statement, "verdict": verdict, "ours": ours, "paper": paper, **details}


def format_difference(diff: dict, unit: str = "", digits: int = 2, scale: float = 1.0) -> str:
    """``+1.23 ± 0.45 (SE over 3 seeds, MDE 1.60)`` for prose and tables (values times ``scale``,
    e.g. 100 for accuracies in points)."""
    text = f"{scale * diff['mean']:+.{digits}f}{unit}"
    if diff["se"] is None:
        return f"{text} (one seed: spread unknown)"
    return (f"{text} ± {scale * diff['se']:.{digits}f}{unit} "
            f"(SE over {diff['n']} seeds, MDE {scale * diff['mde']:.{digits}f}{unit})")


def claims_table(claims: dict):
    """The claims of a chapter as a table: statement, the paper's number, ours, verdict."""
    import pandas as pd

    rows = [{"claim": c["statement"], "paper": c["paper"], "ours": c["ours"], "verdict": c["verdict"]}
            for c in claims.values()]
    return pd.DataFrame(rows, columns=["claim", "paper", "ours", "verdict"])
