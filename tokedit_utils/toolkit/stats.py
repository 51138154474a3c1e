"""Small effects need statistics: paired differences over seeds, their standard error, the
minimum detectable effect, and verdicts that can say "inconclusive".

Every chapter that compares arms uses these, so a verdict means the same thing everywhere:

* :func:`paired_difference` — arms that share seeds (same initialization, same data order
  per seed): the per-seed differences, their mean, standard error, a paired t-test, a
  two-sided confidence interval and the minimum detectable effect (:func:`mde`).
* :func:`holm` — the sub-tests of one claim are Holm-adjusted together; the adjusted
  p-value is stored beside the raw one (``p_holm``) and is the one the verdict reads.
* :func:`direction_verdict` — "the effect has a sign": *reproduced* when the difference is
  significant in the claimed direction, *not reproduced* when it is significant the other
  way, *inconclusive* otherwise.
* :func:`equivalence_verdict` — "the arms do not differ": *reproduced* when the whole
  confidence interval lies within ``±margin``, *not reproduced* when the whole interval lies
  outside it, *inconclusive* otherwise.
* :func:`not_worse_verdict` — "the treatment is not worse": *reproduced* when no point of the
  interval is worse than the margin, *not reproduced* only when the whole interval is worse
  than the margin, *inconclusive* otherwise. Equivalence is judged before direction, so a
  small, significant loss inside the margin still reads "reproduced".
* :func:`interval_verdict` — the direction verdict for a bootstrap interval.
* :func:`combine` — one verdict from the verdicts of a claim's parts, in the book's seven
  words (:data:`VERDICTS`).
* :func:`claim` — the record a chapter writes into ``results.json`` under ``claims``; the
  verdict page of the book reads these records.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import optimize
from scipy import stats as _st

REPRODUCED, PARTLY, MIXED = "reproduced", "partly reproduced", "mixed"
INCONCLUSIVE, NOT_REPRODUCED = "inconclusive", "not reproduced"
NOT_TESTABLE, NOT_RUN = "not testable here", "not run"
#: The book's verdict vocabulary, from best to no test at all.
VERDICTS = (REPRODUCED, PARTLY, MIXED, INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, NOT_RUN)


def mde(se: float, df: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean difference that a two-sided t-test at level ``alpha`` with ``df``
    degrees of freedom detects with probability ``power``: exact, from the noncentral t
    distribution (the central approximation ``(t_{1-alpha/2} + t_power) * se`` has only about
    77% power at 3 seeds)."""
    crit = float(_st.t.ppf(1 - alpha / 2, df))

    def power_at(delta: float) -> float:  # in units of se; the far tail can be NaN, and is ~0
        return float(_st.nct.sf(crit, df, delta) + np.nan_to_num(_st.nct.cdf(-crit, df, delta)))

    approx = crit + float(_st.t.ppf(power, df))
    return optimize.brentq(lambda d: power_at(d) - power, 0.0, 2 * approx, xtol=1e-10) * se


def paired_difference(treatment: Sequence[float], control: Sequence[float] | None = None,
                      alpha: float = 0.05, power: float = 0.8) -> dict:
    """Mean of ``treatment[i] - control[i]`` over seeds with its uncertainty.

    ``control=None`` tests the values themselves against zero (for example per-seed slopes).
    With one seed the spread is unknown: ``se``, ``p_value``, ``ci`` and ``mde`` are None.
    The interval is the two-sided ``1 - alpha`` t interval; ``mde`` is :func:`mde`.
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
               mde=mde(se, df, alpha, power))
    if se == 0:
        out.update(t=math.copysign(math.inf, out["mean"]) if out["mean"] else 0.0,
                   p_value=0.0 if out["mean"] else 1.0)
    else:
        out["t"] = out["mean"] / se
        out["p_value"] = float(2 * _st.t.sf(abs(out["t"]), df))
    return out


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of one family of p-values (None stays None)."""
    known = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(known):
        running = max(running, min(1.0, (len(known) - rank) * p))
        out[i] = running
    return out


def adjust(tests: Sequence[dict]) -> list[dict]:
    """Holm-adjust the sub-tests of one claim in place: each gets ``p_holm``, which
    :func:`direction_verdict` reads instead of the raw ``p_value``."""
    for d, p in zip(tests, holm([d["p_value"] for d in tests])):
        d["p_holm"] = p
    return list(tests)


def direction_verdict(diff: dict, expected_sign: int) -> str:
    """Verdict on "the difference has sign ``expected_sign``" (+1 or -1), at the test's level,
    on the Holm-adjusted p-value where the test is one of several (:func:`adjust`)."""
    if expected_sign not in (1, -1):
        raise ValueError("expected_sign is +1 or -1")
    p = diff.get("p_holm", diff["p_value"])
    if p is None or p >= diff["alpha"]:
        return INCONCLUSIVE
    return REPRODUCED if np.sign(diff["mean"]) == expected_sign else NOT_REPRODUCED


def equivalence_verdict(diff: dict, margin: float) -> str:
    """Verdict on "the arms do not differ by more than ``margin``", on the whole interval."""
    if diff["ci"] is None:
        return INCONCLUSIVE
    low, high = diff["ci"]
    if -margin <= low and high <= margin:
        return REPRODUCED
    if low > margin or high < -margin:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def not_worse_verdict(diff: dict, margin: float, better_sign: int) -> str:
    """Verdict on "the treatment is not worse than the control by more than ``margin``"
    (``better_sign`` +1 when a higher value is better): the whole interval on the good side of
    ``-margin`` reproduces it, the whole interval beyond it contradicts it."""
    if better_sign not in (1, -1):
        raise ValueError("better_sign is +1 or -1")
    if diff["ci"] is None:
        return INCONCLUSIVE
    low, high = sorted(better_sign * c for c in diff["ci"])
    if low >= -margin:
        return REPRODUCED
    if high < -margin:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def interval_verdict(diff: dict, expected_sign: int) -> str:
    """Direction verdict for a difference with a (bootstrap) interval ``diff["ci"]``:
    *reproduced* when it excludes zero on the expected side, *not reproduced* when it
    excludes zero on the other, *inconclusive* when it holds zero."""
    low, high = diff["ci"]
    if low > 0 or high < 0:
        return REPRODUCED if (low > 0) == (expected_sign > 0) else NOT_REPRODUCED
    return INCONCLUSIVE


def combine(verdicts: Sequence[str]) -> str:
    """One verdict from the verdicts of a claim's parts (every epoch, every task, every
    chapter claim that tests a claim of the paper):

    * parts not run are left out, and so are parts not testable here, unless nothing else is;
    * all reproduced: *reproduced*; some reproduced, the rest inconclusive: *partly reproduced*;
    * some reproduced and some contradicted: *mixed*;
    * some contradicted and none reproduced: *not reproduced*; else *inconclusive*.
    """
    for v in verdicts:
        if v not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {v!r}")
    ran = [v for v in verdicts if v != NOT_RUN]
    if not ran:
        return NOT_RUN
    tested = [v for v in ran if v != NOT_TESTABLE]
    if not tested:
        return NOT_TESTABLE
    some_yes = any(v in (REPRODUCED, PARTLY, MIXED) for v in tested)
    some_no = any(v in (NOT_REPRODUCED, MIXED) for v in tested)
    if some_yes and some_no:
        return MIXED
    if all(v == REPRODUCED for v in tested):
        return REPRODUCED
    if some_yes:
        return PARTLY
    return NOT_REPRODUCED if some_no else INCONCLUSIVE


def claim(statement: str, verdict: str, ours: str, paper: str, *, metric: str,
          contradicted_by: str, **details) -> dict:
    """One claim as a chapter records it: what is claimed, the verdict, our number and the
    paper's as short phrases, the ``metric`` it is tested on, the result that would have
    contradicted it (``contradicted_by``), and any numbers behind them (difference, se, MDE,
    seeds, Holm-adjusted p-values)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
    return {"statement": statement, "verdict": verdict, "ours": ours, "paper": paper,
            "metric": metric, "contradicted_by": contradicted_by, **details}


def pct(x: float | None, digits: int = 1) -> str:
    """A share as a percentage for prose: ``0.1234`` -> ``12.3%``; tiny shares keep three
    significant digits rather than read 0.0%."""
    if x is None:
        return "n/a"
    if x == 0 or abs(x) >= 10 ** -(digits + 2):
        return f"{100 * x:.{digits}f}%"
    return f"{100 * x:.2g}%"


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
