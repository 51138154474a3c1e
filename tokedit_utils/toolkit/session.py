"""The first thing every chapter notebook calls: ``chapter()``, the setup call. It sets
offline mode, seeds, threads, the CPU allocator and the figure style (``start``), and
returns the chapter's output folder and clock with the steps every chapter repeats."""

from __future__ import annotations

import os
import random
import time
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


class Chapter:
    """What a chapter notebook needs after its setup call: where it writes, its clock, and
    the two steps every chapter repeats (save and show a figure, write ``results.json``)."""

    def __init__(self, stem: str, profile: str):
        from . import paths

        self.stem, self.profile = stem, profile
        self.out_dir = paths.output_dir(profile, stem)
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def seconds(self) -> float:
        """Wall-clock seconds since the setup call."""
        return time.perf_counter() - self._wall

    def cpu_seconds(self) -> float:
        """CPU seconds of this process (all its threads) since the setup call."""
        return time.process_time() - self._cpu

    def show(self, fig, name: str) -> None:
        """Save ``fig`` as ``figures/<name>.png`` beside the stage's artifacts, then show it."""
        import matplotlib.pyplot as plt

        from . import plotting

        plotting.save_figure(fig, self.out_dir, name)
        plt.show()

    def write_results(self, results: dict) -> None:
        """Write the chapter's ``results.json`` (paths inside the stage made relative)."""
        from . import paths

        paths.write_results(self.out_dir, results)


def chapter(stem: str, profile: str, seed: int = 0, offline: bool = True,
            threads: int | None = None) -> Chapter:
    """The setup call of a chapter notebook: :func:`start`, no progress bars for loading
    weights, and the chapter's output folder and clock."""
    start(seed=seed, offline=offline, threads=threads)
    import transformers

    transformers.utils.logging.disable_progress_bar()
    return Chapter(stem, profile)
