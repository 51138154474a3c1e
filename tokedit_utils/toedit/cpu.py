"""The CPU allocator setting that the editing command and every chapter use."""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers


def tune_cpu_allocator(threshold_bytes: int = 1 << 30) -> bool:
    """Keep freed large blocks in the heap for reuse instead of returning them to the OS.

    PyTorch's CPU tensors come straight from ``malloc``. glibc serves every block above its
    mmap threshold (32 MiB at most) with a fresh ``mmap`` and unmaps it on free, so each
    activation of a batched forward or backward pass is page-faulted in again, 4 KiB at a
    time. On this project's 2-core machines, tuning made a batch-32 step of the default
    teacher's shape 1.2x faster in inference and 1.5x in training, and a 4-layer,
    256-wide forward pass up to 1.8x (``benchmarks/bench_allocator.py``). Raising glibc's
    mmap and trim thresholds keeps those blocks for the next batch; the price is that the
    process keeps its peak heap. Returns whether the setting took (False off glibc, or when the
    environment variable ``TOKEDIT_NO_MALLOC_TUNING`` is set).
    """
    if os.environ.get("TOKEDIT_NO_MALLOC_TUNING") or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl without mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    value = min(int(threshold_bytes), 2**31 - 1)
    return mallopt(_M_MMAP_THRESHOLD, value) == 1 and mallopt(_M_TRIM_THRESHOLD, value) == 1
