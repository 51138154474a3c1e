"""The benchmark commands run end to end (tiny sizes) and print the figures the notes quote.

Their numbers are not checked here (timings are noisy on shared machines); the
benchmarks themselves print ratios measured in one run.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(script, *args):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_bench_toedit_prints_every_ratio():
    out = run("bench_toedit.py", "--from-config", "1,32,2,64", "--docs", "4", "--chunk", "2", "--repeats", "1")
    ratios = dict(re.findall(r"(b/a'?|b/c|a/c) = ([0-9.]+)", out))
    assert set(ratios) == {"b/a", "b/a'", "b/c", "a/c"}, out
    assert all(float(v) > 0 for v in ratios.values())
    flagged = float(re.search(r"([0-9.]+)% flagged", out).group(1))
    assert 5 < flagged < 25, out  # a random prior: the threshold flags about 12.5% of tokens


def test_bench_allocator_compares_both_arms():
    out = run("bench_allocator.py", "--layers", "1", "--width", "32", "--heads", "2", "--context", "64",
              "--batch", "8", "--steps", "1", "--repeats", "1", "--rounds", "1")
    for name in ("forward", "train"):
        assert re.search(rf"^{name}\s+untuned .* tuned/untuned [0-9.]+$", out, re.M), out
