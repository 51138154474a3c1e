"""Progress of long steps, for the runner to show while a cell runs.

A ``Bar`` is a tqdm bar (drawn in the notebook as before; the book strips it) that also
appends its count to the file named by ``TOKEDIT_PROGRESS`` when the runner sets one: the
runner reads it as the cell runs and shows a line with the rate and the time left. Nothing
of it reaches the book's pages.
"""

from __future__ import annotations

import json
import os
import time

from tqdm import tqdm


class Bar(tqdm):
    """``tqdm`` that also reports ``{"task", "n", "total", "unit", "elapsed"}`` (at most every
    half second, and when it closes) to the runner's progress file."""

    def __init__(self, *args, **kwargs):
        self._path = os.environ.get("TOKEDIT_PROGRESS")
        self._sent, self._sent_n = 0.0, None
        super().__init__(*args, **kwargs)

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self._path or (not force and now - self._sent < 0.5):
            return
        self._sent, self._sent_n = now, self.n
        event = {"task": self.desc or "working", "n": self.n, "total": self.total, "unit": self.unit,
                 "elapsed": round(time.time() - self.start_t, 2)}
        with open(self._path, "a") as handle:  # one short line per write: whole lines to the reader
            handle.write(json.dumps(event) + "\n")

    def update(self, n=1):
        out = super().update(n)
        self._report(force=self.total is not None and self.n >= self.total)
        return out

    def close(self):
        if not self.disable and self._path and self.total and self._sent_n != self.n:
            self._report(force=True)
        super().close()
