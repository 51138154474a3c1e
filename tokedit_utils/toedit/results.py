"""What an edit reports: per document, totals with histograms, and per generation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

TABLE6_EDGES = [round(0.1 * i, 1) for i in range(11)]  # bins [0,.1), ..., [.9,1.0]
COUNTS = ("tokens", "scored", "flagged", "changed", "dropped")


@dataclass
class EditResult:
    """One edited document (or response field)."""

    text: str
    key: str
    tokens: int  # tokens of the field (tokenizer-added special tokens not counted)
    scored: int  # editable positions that got a probability
    flagged: int  # positions with P >= threshold (resampling strategies)
    changed: int  # flagged positions whose drawn token differs from the original
    dropped: int  # positions deleted (P < low_threshold, dropping strategies)
    interval_counts: np.ndarray  # the 10 intervals of Table 6, floor(10 P)
    fine_counts: np.ndarray  # ``fine_bins`` equal bins on [0, 1]
    # with ``return_probs=True`` only:
    probs: np.ndarray | None = None  # P_i per field token (NaN where not scored)
    flagged_positions: np.ndarray | None = None  # field-token indices flagged for resampling
    drawn_ids: np.ndarray | None = None  # the token drawn at each flagged position
    dropped_positions: np.ndarray | None = None  # field-token indices deleted

    @property
    def flagged_fraction(self) -> float:
        return self.flagged / self.scored if self.scored else 0.0

    def stats(self) -> dict:
        return {name: getattr(self, name) for name in COUNTS}


@dataclass
class EditStats:
    """Totals over documents, with the token-probability histograms."""

    fine_bins: int = 100
    documents: int = 0
    empty_documents: int = 0
    tokens: int = 0
    scored: int = 0
    flagged: int = 0
    changed: int = 0
    dropped: int = 0
    interval_counts: np.ndarray = None
    fine_counts: np.ndarray = None

    def __post_init__(self):
        if self.interval_counts is None:
            self.interval_counts = np.zeros(10, dtype=np.int64)
        if self.fine_counts is None:
            self.fine_counts = np.zeros(self.fine_bins, dtype=np.int64)

    def add(self, result: EditResult) -> None:
        self.documents += 1
        self.empty_documents += int(result.tokens == 0)
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(result, name))
        self.interval_counts += result.interval_counts
        self.fine_counts += result.fine_counts

    def update(self, results: Iterable[EditResult]) -> "EditStats":
        for result in results:
            self.add(result)
        return self

    @property
    def flagged_fraction(self) -> float:
        return self.flagged / self.scored if self.scored else 0.0

    def to_dict(self) -> dict:
        frac = lambda n: n / self.scored if self.scored else 0.0  # noqa: E731
        total = max(int(self.interval_counts.sum()), 1)
        return {
            "documents": self.documents, "empty_documents": self.empty_documents,
            **{name: getattr(self, name) for name in COUNTS},
            "flagged_fraction": frac(self.flagged), "changed_fraction": frac(self.changed),
            "dropped_fraction": frac(self.dropped),
            "histogram": {
                "table6": {"edges": TABLE6_EDGES, "counts": self.interval_counts.tolist(),
                           "percent": (100.0 * self.interval_counts / total).tolist()},
                "fine": {"edges": np.linspace(0, 1, self.fine_bins + 1).tolist(),
                         "counts": self.fine_counts.tolist()},
            },
        }

    @classmethod
    def from_dict(cls, payload: dict) -> "EditStats":
        fine = np.asarray(payload["histogram"]["fine"]["counts"], dtype=np.int64)
        table6 = np.asarray(payload["histogram"]["table6"]["counts"], dtype=np.int64)
        stats = cls(fine_bins=len(fine), fine_counts=fine, interval_counts=table6)
        for name in ("documents", "empty_documents", *COUNTS):
            setattr(stats, name, int(payload[name]))
        return stats


@dataclass
class IterationResult:
    """``texts[0]`` is the source (generation 1); ``texts[g]`` is generation g+1.

    ``stats[g]`` belongs to the pass that edited generation g+1, so
    ``flagged_fraction[g]`` is the flagged fraction *of generation g+1* (paper Table 15).
    """

    texts: list[list[str]]
    stats: list[EditStats]

    @property
    def flagged_fraction(self) -> list[float]:
        return [s.flagged_fraction for s in self.stats]

    @property
    def flagged(self) -> list[int]:
        return [s.flagged for s in self.stats]


def token_probability_histogram(probs, bins: int | Sequence[float] = 10) -> tuple[np.ndarray, np.ndarray]:
    """Counts of token probabilities in ``bins`` equal bins on [0, 1] (or given edges).

    ``probs`` is an array or a list of arrays (e.g. ``EditResult.probs``); NaNs (unscored
    positions) are ignored. ``bins=10`` gives the intervals of the paper's Table 6 with
    the last interval closed, [0.9, 1.0].
    """
    if isinstance(probs, (list, tuple)):
        probs = (np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in probs])
                 if probs else np.zeros(0))
    probs = np.asarray(probs, dtype=np.float64).ravel()
    probs = probs[~np.isnan(probs)]
    edges = np.linspace(0.0, 1.0, bins + 1) if isinstance(bins, int) else np.asarray(bins, dtype=np.float64)
    counts, edges = np.histogram(probs, bins=edges)
    return counts, edges


def join_results(parts: list[EditResult], key: str) -> EditResult:
    """One document's result from its segments' results, in order."""
    if len(parts) == 1:
        return parts[0]
    counts = {name: sum(getattr(p, name) for p in parts) for name in ("tokens", "scored", "flagged", "changed",
                                                                     "dropped", "interval_counts", "fine_counts")}
    joined = EditResult(text="".join(p.text for p in parts), key=key, **counts)
    if parts[0].probs is not None:  # positions count field tokens from the document's start
        shift = np.cumsum([0] + [len(p.probs) for p in parts[:-1]])
        joined.probs = np.concatenate([p.probs for p in parts])
        joined.flagged_positions = np.concatenate([p.flagged_positions + s for p, s in zip(parts, shift)])
        joined.drawn_ids = np.concatenate([p.drawn_ids for p in parts])
        joined.dropped_positions = np.concatenate([p.dropped_positions + s for p, s in zip(parts, shift)])
    return joined
