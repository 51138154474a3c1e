"""What the runner shows while it works: progress lines from inside long cells (read from the
file the kernel's ``toolkit.progress.Bar`` appends to), and the table at the end."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path

#: In a log (not a terminal), a running task prints a line at most this often, and when done.
LOG_EVERY_S = 15.0


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def progress_line(event: dict) -> str:
    """``training 25% synthetic, seed 1: 120/480 step, 3.2 step/s, 1:52 left``."""
    n, total, unit, elapsed = event["n"], event.get("total"), event.get("unit") or "it", event["elapsed"]
    rate = n / elapsed if elapsed > 0 else 0.0
    line = f"{event['task']}: {n:,.0f}" + (f"/{total:,.0f}" if total else "") + f" {unit}, {rate:,.1f} {unit}/s"
    if total and rate > 0:
        line += f", {_clock((total - n) / rate)} left" if n < total else f", done in {_clock(elapsed)}"
    return line


class ProgressWatcher:
    """Follows a progress file while a notebook runs: on a terminal one line updated in place,
    in a log or CI plain lines (every ``LOG_EVERY_S`` per task, and when a task ends)."""

    def __init__(self, path: Path, prefix: str, log=print, tty: bool | None = None):
        self.path, self.prefix, self.log = Path(path), prefix, log
        self.tty = (log is print and sys.stdout.isatty()) if tty is None else tty
        self._offset, self._last, self._shown = 0, {}, False
        self._stop, self._lock = threading.Event(), threading.Lock()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self):
        self.path.unlink(missing_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.poll()
        self.clear()
        self.path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Wipe the in-place line (before the runner prints a line of its own)."""
        if self.tty and self._shown:
            sys.stdout.write("\r\x1b[K")
            sys.stdout.flush()
            self._shown = False

    def _follow(self) -> None:
        while not self._stop.wait(0.5):
            self.poll()

    def poll(self) -> None:
        """Show what the kernel reported since the last look."""
        with self._lock:
            self._read()

    def _read(self) -> None:
        try:
            with open(self.path) as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return
        complete = chunk[: chunk.rfind("\n") + 1]  # a line still being written waits
        self._offset += len(complete.encode())
        for raw in complete.splitlines():
            try:
                self._show(json.loads(raw))
            except (ValueError, KeyError, TypeError):
                continue

    def _show(self, event: dict) -> None:
        line = f"{self.prefix}   {progress_line(event)}"
        if self.tty:
            sys.stdout.write("\r" + line[:150] + "\x1b[K")
            sys.stdout.flush()
            self._shown = True
            return
        done = bool(event.get("total")) and event["n"] >= event["total"]
        now = time.monotonic()
        if done or now - self._last.get(event["task"], -LOG_EVERY_S) >= LOG_EVERY_S:
            self._last[event["task"]] = now
            self.log(line)


def verdict_counts(stage_dirs: list[Path]) -> Counter:
    """How many claims of the chapters' ``results.json`` carry each verdict."""
    counts = Counter()
    for stage in stage_dirs:
        try:
            claims = json.loads((stage / "results.json").read_text()).get("claims", {})
        except (OSError, ValueError):
            continue
        counts.update(c["verdict"] for c in claims.values() if isinstance(c, dict) and "verdict" in c)
    return counts


def summary(profile: str, rows: list[dict], stage_dirs: list[Path], book: Path | None) -> str:
    """The closing table: time per chapter (run now, or skipped with its last time), the
    verdict counts, and where the book is."""
    lines = [f"[{profile}] {'chapter':<16} {'this run':>10} {'last run':>10}"]
    for row in rows:
        now = _clock(row["seconds"]) if row["status"] == "ran" else row["status"]
        last = _clock(row["last"]) if row.get("last") is not None else "-"
        lines.append(f"[{profile}] {row['stem']:<16} {now:>10} {last:>10}")
    counts = verdict_counts(stage_dirs)
    verdicts = ", ".join(f"{n} {v}" for v, n in counts.most_common()) or "none yet"
    lines.append(f"[{profile}] verdicts: {verdicts}")
    lines.append(f"[{profile}] book: {book / 'index.html' if book else 'not built (--no-build, --until or --only)'}")
    return "\n".join(lines)
