"""The first thing every chapter notebook calls: offline mode, seeds, threads, the CPU
allocator, figure style."""

from __future__ import annotations

import ctypes
import os
import random
import sys
import warnings

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


def start(seed: int = 0, offline: bool = True, threads: int | None = None) -> None:
    """Prepare a notebook session.

    ``offline`` sets HF_HUB_OFFLINE / HF_DATASETS_OFFLINE so a stray hub call fails at once
    instead of stalling; it must run before `transformers` or `datasets` is imported.
    """
    if offline:
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
            os.environ.setdefault(name, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import numpy as np
    import torch
    import transformers

    torch.set_num_threads(threads or min(os.cpu_count() or 1, 8))
    tune_cpu_allocator()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # Library chatter (progress of dataset maps, hints about attention masks on unpadded
    # blocks) would otherwise land in the book between the figures.
    transformers.logging.set_verbosity_error()
    import datasets

    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    from . import plotting

    plotting.use_book_style()
