"""The editing options: one dataclass. The command line derives its flags from it."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields

STRATEGIES = ("resample_high", "resample_high_drop_low", "drop_low")
SAMPLERS = ("top_k", "top_p", "rejection")
OVERLAP = ("auto", "on", "off")
#: (k, beta) used when they are not given; top_p uses neither.
SAMPLER_DEFAULTS = {"top_k": (8, 1.5), "rejection": (64, 0.5), "top_p": (8, 1.0)}


def _opt(default, help: str, **argparse):
    return field(default=default, metadata={"help": help, **argparse})


@dataclass
class EditConfig:
    """How a :class:`ToEditor` edits (the rules are in the package docstring).

    Every field is a command-line option (``threshold`` is ``--threshold``); its help text
    and default come from here. Invalid values raise ValueError at construction.
    """

    strategy: str = _opt("resample_high", "resample_high (paper), resample_high_drop_low or drop_low",
                         choices=STRATEGIES)
    threshold: float = _opt(0.99, "resample tokens with P >= this; in [0, 1] (above 1: none)")
    low_threshold: float = _opt(0.001, "drop tokens with P < this (dropping strategies); in [0, 1]")
    sampler: str = _opt("top_k", "how a replacement is drawn", choices=SAMPLERS)
    k: int | None = _opt(None, "candidates (default: top_k 8, rejection 64)")
    beta: float | None = _opt(None, "temperature (default: top_k 1.5, rejection 0.5)")
    top_p: float = _opt(0.9, "nucleus mass for --sampler top_p, in (0, 1]")
    exclude_original: bool = _opt(False, "never draw the original token")
    allow_special: bool = _opt(False, "allow special tokens as replacements")
    max_length: int | None = _opt(None, "window length (default: the model's context)")
    stride: int | None = _opt(None, "new positions scored per later window (default: context // 2)")
    batch_size: int = _opt(32, "windows per forward pass (fewer where max_logits_gib needs)")
    max_logits_gib: float | None = _opt(None, "memory for one forward pass's logits, batch x window x "
                                        "vocabulary x 4 bytes, in GiB; the batch is cut to fit (default: 2 on "
                                        "a CPU, a quarter of the GPU's memory on CUDA)")
    overlap: str = _opt("auto", "tokenize the next chunk and rebuild the last one during a forward pass: "
                        "on, off (the serial path; the same output) or auto (on where the model runs on a "
                        "GPU; on a CPU the forward pass already uses every core)", choices=OVERLAP)
    chunk_docs: int = _opt(256, "documents per chunk (memory bound, resume granularity)")
    fine_bins: int = _opt(100, "bins of the fine probability histogram")

    def __post_init__(self):
        default_k, default_beta = SAMPLER_DEFAULTS.get(self.sampler, (None, None))
        if self.k is None:
            self.k = default_k
        if self.beta is None:
            self.beta = default_beta
        self.validate()

    def validate(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.overlap not in OVERLAP:
            raise ValueError(f"overlap must be one of {OVERLAP}, got {self.overlap!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        _number("threshold", self.threshold, low=0.0)
        _number("low_threshold", self.low_threshold, low=0.0, high=1.0)
        _number("top_p", self.top_p, low=0.0, high=1.0, low_open=True)
        _number("beta", self.beta, low=0.0, low_open=True)
        for name in ("k", "batch_size", "chunk_docs", "fine_bins"):
            _integer(name, getattr(self, name), low=1)
        if self.max_logits_gib is not None:
            _number("max_logits_gib", self.max_logits_gib, low=0.0, low_open=True)
        if self.max_length is not None:
            _integer("max_length", self.max_length, low=2)
        if self.stride is not None:
            _integer("stride", self.stride, low=1)
        if self.strategy == "resample_high_drop_low" and self.low_threshold >= self.threshold:
            raise ValueError(f"low_threshold ({self.low_threshold}) must be below threshold ({self.threshold})")

    @property
    def resamples(self) -> bool:
        return self.strategy in ("resample_high", "resample_high_drop_low")

    @property
    def drops(self) -> bool:
        return self.strategy in ("resample_high_drop_low", "drop_low")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _number(name: str, value, *, low=None, high=None, low_open=False) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")


def _integer(name: str, value, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
