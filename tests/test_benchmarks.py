"""The benchmark commands run end to end (tiny sizes) and print the figures the notes quote.

Their numbers are not checked here (timings are noisy on shared machines); the
benchmarks themselves print ratios measured in one run.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# runs a script in a python where these cannot be imported (a bare GPU machine's python3)
WITHOUT = """
import runpy, sys
for name in ("datasets", "papermill", "lm_eval", "datatrove"):
    sys.modules[name] = None
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run(script, *args, bare=False):
    prefix = [sys.executable, "-c", WITHOUT] if bare else [sys.executable]
    done = subprocess.run([*prefix, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_bench_toedit_prints_every_ratio_without_datasets():
    out = run("bench_toedit.py", "--from-config", "1,32,2,64", "--docs", "4", "--chunk", "2", "--repeats", "1",
              "--batch-size", "4,16", bare=True)
    assert re.findall(r"^--- batch (\d+) windows", out, re.M) == ["4", "16"], out
    ratios = dict(re.findall(r"(b/a'?|b/c|a/c) = ([0-9.]+)", out))
    assert set(ratios) == {"b/a", "b/a'", "b/c", "a/c"}, out
    assert all(float(v) > 0 for v in ratios.values())
    flagged = float(re.search(r"([0-9.]+)% flagged", out).group(1))
    assert 5 < flagged < 25, out  # a random prior: the threshold flags about 12.5% of tokens


def test_bench_toedit_scale_checks():
    out = run("bench_toedit.py", "--from-config", "1,32,2,64", "--docs", "2", "--chunk", "2", "--repeats", "1",
              "--scale", "--scale-docs", "3", "--chunk-docs", "2", "--rounds", "1")
    assert "same records: True" in out, out  # datatrove's output is the plain command's
    rss = re.search(r"on 30: 10x/1x = ([0-9.]+)", out)
    assert rss and 0.5 < float(rss.group(1)) < 2, out
    assert re.search(r"datatrove/plain = [0-9.]+", out), out


def test_bench_long_document_compares_one_document_with_many():
    out = run("bench_long_document.py", "--mb", "0.02", "--docs", "4")
    assert re.search(r"^ one:    1 document\(s\), .* peak RSS [0-9,]+ MiB", out, re.M), out
    assert re.search(r"^many:    4 document\(s\), .* [1-9][0-9.]*% flagged", out, re.M), out
    assert re.search(r"peak RSS one/many = [0-9.]+; target <= 1.5", out), out


def test_bench_allocator_compares_both_arms():
    out = run("bench_allocator.py", "--layers", "1", "--width", "32", "--heads", "2", "--context", "64",
              "--batch", "8", "--steps", "1", "--repeats", "1", "--rounds", "1")
    for name in ("forward", "train"):
        assert re.search(rf"^{name}\s+untuned .* tuned/untuned [0-9.]+$", out, re.M), out
