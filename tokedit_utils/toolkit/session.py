"""The first thing every chapter notebook calls: offline mode, seeds, threads, the CPU
allocator, figure style."""

from __future__ import annotations

import os
import random
import warnings

from ..toedit.cpu import tune_cpu_allocator

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
