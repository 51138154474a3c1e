"""Iterated training in linear regression: replace, accumulate and token editing.

Setting (paper §4.2): rows of the design ``X`` (T x d) are i.i.d.
N(0, I_d), labels are ``y = X w* + E`` with ``E ~ N(0, sigma^2 I_T)``, and every
generation refits the ridgeless least-squares model ``w_hat = X^+ y`` on the *same*
design. The test error with Sigma = I is ``E_test = E ||w_hat - w*||^2``.

Generation 1 is the fit on real labels; generation n + 1 is fitted on labels built
from the generation-n model ``Y_hat_{n+1} = X w_hat_n + E_{n+1}``:

* replace:     ``Y_{n+1} = Y_hat_{n+1}``                      -> ``n * base``
* accumulate:  fit on all label vectors so far (stacked X)    -> ``base * sum_{i<=n} 1/i^2``
* edit (Eq. 3): ``Y_{n+1} = M_n Y_hat_{n+1} + (1 - M_n) Y_n`` -> ``base * (1 + sum_{i<n} f_i)``
  (Theorem 1), with ``f_i = f1 * eta^(i-1)`` the fraction of labels in mask ``M_i``.

where ``base = sigma^2 d / (T - d - 1)`` (Lemma 3: E tr (X^T X)^{-1} = d / (T - d - 1)).

Everything is vectorised over trials: arrays carry the trials as their leading axis,
each trial draws its own design X and w*, and the pseudo-inverses are computed once
per batch with ``np.linalg.pinv`` on the stacked designs. All simulators return the
squared errors ``||w_hat_n - w*||^2`` as an array of shape (trials, n_generations).
The same seed gives every process the same designs and the same noise draws, so the
processes are compared on common random numbers.
"""

from __future__ import annotations

import numpy as np


MASK_TYPES = ("disjoint", "overlapping", "all_or_nothing")


# --- closed forms ----------------------------------------------------------------------


def base_error(d: int, T: int, sigma: float) -> float:
    """One ordinary least-squares fit: ``sigma^2 d / (T - d - 1)`` (needs T >= d + 2)."""
    if T < d + 2:
        raise ValueError(f"need T >= d + 2, got T={T}, d={d}")
    return sigma**2 * d / (T - d - 1)


def edit_fractions(f1: float, eta: float, n: int) -> np.ndarray:
    """Edited fractions ``f_i = f1 * eta^(i-1)`` for i = 1..n."""
    return f1 * eta ** np.arange(n, dtype=float)


def closed_form_replace(n_generations: int, d: int, T: int, sigma: float) -> np.ndarray:
    """Pure synthetic iteration (Eq. 7): ``E_test(w_hat_n) = n * base``."""
    return base_error(d, T, sigma) * np.arange(1, n_generations + 1)


def closed_form_accumulate(n_generations: int, d: int, T: int, sigma: float) -> np.ndarray:
    """Accumulation: ``E_test(w_hat_n) = base * sum_{i<=n} 1/i^2 <= base * pi^2/6``."""
    n = np.arange(1, n_generations + 1)
    return base_error(d, T, sigma) * np.cumsum(1.0 / n**2)


def closed_form_edit(n_generations: int, d: int, T: int, sigma: float, f1: float, eta: float,
                     disjoint: bool = False) -> np.ndarray:
    """Theorem 1 in expectation: ``E_test(w_hat_n) = base * (1 + sum_{i<n} f_i)``.

    For masks independent of X, ``E tr(M_i X (X^T X)^-2 X^T) = f_i E tr (X^T X)^-1``.
    ``disjoint=True``: editing stops once all T labels were edited, so the edit mass is
    capped at 1 and the value at ``2 * base`` (Theorem 2).
    """
    mass = np.concatenate([[0.0], np.cumsum(edit_fractions(f1, eta, n_generations - 1))])
    return base_error(d, T, sigma) * (1.0 + (np.minimum(mass, 1.0) if disjoint else mass))


def theorem2_bound(d: int, T: int, sigma: float) -> float:
    """Theorem 2 (Eq. 6): ``E_test <= 2 sigma^2 d / (T - d - 1)`` for disjoint edits."""
    return 2.0 * base_error(d, T, sigma)


# --- Monte Carlo -----------------------------------------------------------------------


def _streams(seed: int):
    """Independent generators for designs, label noise and masks."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]


def pseudo_inverse(X: np.ndarray) -> np.ndarray:
    """``X^+ = (X^T X)^{-1} X^T`` for a stack of full-column-rank designs (trials, T, d).

    Same as ``np.linalg.pinv`` here (X has full column rank a.s. when T >= d), and
    several times faster because it solves d x d systems instead of SVDs.
    """
    Xt = np.swapaxes(X, -1, -2)
    return np.linalg.solve(Xt @ X, Xt)


def _draw_designs(rng, trials: int, T: int, d: int):
    """Per-trial design X (trials, T, d), its pseudo-inverse (trials, d, T) and w* (trials, d)."""
    X = rng.standard_normal((trials, T, d))
    w_star = rng.standard_normal((trials, d))
    return X, pseudo_inverse(X), w_star


def _apply(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Batched matrix-vector product ``A[b] @ v[b]``."""
    return np.einsum("bij,bj->bi", A, v)  # faster than stacked matmul for these shapes


def _sq_err(w: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    return np.sum((w - w_star) ** 2, axis=-1)


def simulate_replace(d, T, sigma, n_generations, trials, seed, fresh_design=False):
    """Replace: each generation trains only on the previous model's labels.

    ``fresh_design=True`` draws a new design every generation (Dohmatob et al.);
    the closed form ``n * base`` is the same.
    """
    design_rng, noise_rng, _ = _streams(seed)
    X, Xp, w_star = _draw_designs(design_rng, trials, T, d)
    errors = np.empty((trials, n_generations))
    w = w_star
    for n in range(n_generations):
        if fresh_design and n > 0:
            X = design_rng.standard_normal((trials, T, d))
            Xp = pseudo_inverse(X)
        y = _apply(X, w) + sigma * noise_rng.standard_normal((trials, T))
        w = _apply(Xp, y)
        errors[:, n] = _sq_err(w, w_star)
    return errors


def simulate_accumulate(d, T, sigma, n_generations, trials, seed):
    """Accumulate: fit on [X; X; ...] with all label vectors so far.

    With identical stacked designs the least-squares fit is ``X^+`` of the mean label.
    """
    design_rng, noise_rng, _ = _streams(seed)
    X, Xp, w_star = _draw_designs(design_rng, trials, T, d)
    errors = np.empty((trials, n_generations))
    w, label_sum = w_star, np.zeros((trials, T))
    for n in range(n_generations):
        label_sum += _apply(X, w) + sigma * noise_rng.standard_normal((trials, T))
        w = _apply(Xp, label_sum / (n + 1))
        errors[:, n] = _sq_err(w, w_star)
    return errors


def _edit_counts(rng, f: float, trials: int, T: int) -> np.ndarray:
    """Number of edited labels per trial, ``f*T`` stochastically rounded (mean exactly f*T)."""
    ft = min(f, 1.0) * T
    return np.floor(ft).astype(int) + (rng.random(trials) < ft - np.floor(ft))


def edit_masks(rng, masks: str, fractions: np.ndarray, trials: int, T: int):
    """Yield the 0/1 masks M_1, M_2, ... (each of shape (trials, T)).

    * ``disjoint``: a random order of the T points per trial; generation i edits the
      next ``f_i T`` points of that order. Masks never overlap: once every point has
      been edited, editing stops (total edit mass <= T, the premise of Theorem 2).
    * ``overlapping``: an independent uniformly random subset of ``f_i T`` points.
    * ``all_or_nothing``: ``M_i = I`` with probability ``f_i``, else 0 (per trial).
    """
    if masks not in MASK_TYPES:
        raise ValueError(f"masks must be one of {MASK_TYPES}, got {masks!r}")
    rank = np.argsort(np.argsort(rng.random((trials, T)), axis=1), axis=1)
    used = np.zeros(trials, dtype=int)  # disjoint: points edited so far
    for f in fractions:
        if masks == "all_or_nothing":
            yield np.broadcast_to((rng.random(trials) < f)[:, None], (trials, T)).astype(float)
            continue
        k = _edit_counts(rng, f, trials, T)
        if masks == "overlapping":  # the k smallest of T uniforms: a uniform random k-subset
            u = rng.random((trials, T))
            cut = np.take_along_axis(np.sort(np.pad(u, ((0, 0), (0, 1)), constant_values=2.0), axis=1), k[:, None], 1)
            yield (u < cut).astype(float)
        else:
            k = np.minimum(k, T - used)
            yield ((rank >= used[:, None]) & (rank < (used + k)[:, None])).astype(float)
            used = used + k


def simulate_edit(d, T, sigma, n_generations, trials, seed, f1, eta, masks="disjoint", return_theorem1=False):
    """Token editing, the literal Eq. 3: ``Y_{n+1} = M_n Y_hat_{n+1} + (1 - M_n) Y_n``.

    With ``return_theorem1=True`` also returns Theorem 1's expression (Eq. 5),
    ``w_hat_{n+1} = w* + X^+ (E_1 + sum_{i<=n} M_i E_{i+1})``, evaluated on the same
    noise and masks; the two agree exactly when every mask is 0 or I.
    """
    design_rng, noise_rng, mask_rng = _streams(seed)
    X, Xp, w_star = _draw_designs(design_rng, trials, T, d)
    mask_iter = edit_masks(mask_rng, masks, edit_fractions(f1, eta, n_generations - 1), trials, T)
    errors = np.empty((trials, n_generations))
    thm1 = np.empty((trials, n_generations))
    noise_sum = sigma * noise_rng.standard_normal((trials, T))  # E_1
    y = _apply(X, w_star) + noise_sum
    w = _apply(Xp, y)
    errors[:, 0] = thm1[:, 0] = _sq_err(w, w_star)
    for n in range(1, n_generations):
        M = next(mask_iter)
        E = sigma * noise_rng.standard_normal((trials, T))
        y = M * (_apply(X, w) + E) + (1.0 - M) * y
        w = _apply(Xp, y)
        errors[:, n] = _sq_err(w, w_star)
        noise_sum += M * E
        thm1[:, n] = np.sum(_apply(Xp, noise_sum) ** 2, axis=-1)
    return (errors, thm1) if return_theorem1 else errors


# --- summaries -------------------------------------------------------------------------


def mean_and_se(errors: np.ndarray):
    """Mean over trials and its standard error, per generation."""
    return errors.mean(axis=0), errors.std(axis=0, ddof=1) / np.sqrt(errors.shape[0])


def slope(generations: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of ``values`` against ``generations``."""
    return float(np.polyfit(np.asarray(generations, float), np.asarray(values, float), 1)[0])


def label_provenance(process: str, n_generations: int, T: int, f1: float = 0.0, eta: float = 1.0,
                     masks: str = "disjoint", seed: int = 0) -> np.ndarray:
    """Which generation produced each training label, for one trial (Fig. 1 analogue).

    Returns an integer array (n_generations, T): entry [n, j] is the generation whose
    model wrote label j of generation n + 1's training set (0 = the real label).
    ``process`` is ``"replace"`` or ``"edit"``.
    """
    source = np.zeros((n_generations, T), dtype=int)
    if process == "replace":
        source[:] = np.arange(n_generations)[:, None]
        return source
    rng = _streams(seed)[2]
    for n, M in enumerate(edit_masks(rng, masks, edit_fractions(f1, eta, n_generations - 1), 1, T), start=1):
        source[n] = np.where(M[0] > 0, n, source[n - 1])
    return source


def describe_growth(generations: np.ndarray, mean: np.ndarray, base: float, settle: float = 0.2) -> dict:
    """How a mean error curve grows, in units of ``base``.

    Fits straight lines to the first and the last third of the generations. The curve
    ``levels_off`` when the late slope is below ``settle`` times the early slope (or
    below 0.1% of base per generation); otherwise it keeps growing at ``late_slope``.
    """
    ratio = np.asarray(mean) / base
    g = np.asarray(generations)
    third = max(2, len(g) // 3)
    early, late = slope(g[:third], ratio[:third]), slope(g[-third:], ratio[-third:])
    return {"max_ratio": float(ratio.max()), "generation_of_max": int(g[int(ratio.argmax())]),
            "final_ratio": float(ratio[-1]), "early_slope": early, "late_slope": late,
            "levels_off": bool(late < max(settle * early, 1e-3))}


from .figures import (  # noqa: E402,F401  (after the simulators they plot)
    COLORS,
    curve,
    honest_check_record,
    plot_figure1,
    plot_honest_check,
    plot_test_error,
)
from .prose import (  # noqa: E402,F401
    PROCESSES,
    closing,
    comparison_table,
    growth_table,
    headline,
    honest_check_summary,
    main_summary,
    theory_claims,
)
