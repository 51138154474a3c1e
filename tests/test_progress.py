"""What the runner shows while it works: progress from inside a running cell with a rate and
the time left, the last time of a chapter when it starts, and the closing table."""

import re

from tokedit_utils.book import progress
from tokedit_utils.toolkit import paths

from conftest import BODY, _finish, _notebook, _run  # the toy chain (its fixtures: conftest.py)

LONG_CELL = """
import time
from tokedit_utils.toolkit.progress import Bar
bar = Bar(total=4, desc="toy training", unit="step")
for _ in range(4):
    time.sleep(0.4)
    bar.update(1)
bar.close()
"""


def test_progress_lines_from_inside_a_cell_with_rate_and_time_left(toy):
    _notebook(toy[0] / "01_first.ipynb", 'profile = "default"\nvalue = 1',
              BODY.replace("STEM", repr("01_first")) + LONG_CELL)
    logs = _run(toy, cells=True, until="01_first")  # what is shown comes from stage 1 alone
    lines = [line for line in logs if "toy training" in line]
    assert re.search(r"01_first:   toy training: 1/4 step, [\d.]+ step/s, 0:0\d left", lines[0]), lines
    assert re.search(r"toy training: 4/4 step, [\d.]+ step/s, done in 0:0\d", lines[-1]), lines
    # they come while the cell runs, before the line of the finished cell
    cell_done = next(i for i, line in enumerate(logs) if "cell  3/3" in line)
    assert logs.index(lines[-1]) < cell_done
    # nothing of it stays in the stage (or reaches the page)
    nb = (paths.stage_dir("small", "01_first") / "01_first.ipynb").read_text()
    assert "TOKEDIT_PROGRESS" not in nb
    assert not list(paths.stage_dir("small", "01_first").parent.glob("*.progress.jsonl"))


def test_a_chapter_says_how_long_it_took_last_time(toy, toy_first_run):
    _finish(toy_first_run)
    logs = _run(toy, force=True)
    assert re.search(r"01_first: running \(forced\); it took \d+ s last time \.\.\.", logs[0])


def test_the_closing_table(toy, toy_first_run):
    rows = list(toy_first_run.report)
    _finish(toy_first_run)
    _run(toy, only=["01_first"], sets={"01_first": {"value": 4}}, report=rows[:0])
    table = progress.summary("small", rows, [paths.stage_dir("small", s) for s in ("01_first", "02_second")], None)
    assert re.search(r"\[small\] 01_first +0:\d\d +-", table)
    assert "verdicts: none yet" in table and "book: not built" in table


def test_progress_line_and_verdict_counts(tmp_path):
    line = progress.progress_line({"task": "sampling", "n": 50, "total": 200, "unit": "tok", "elapsed": 10})
    assert line == "sampling: 50/200 tok, 5.0 tok/s, 0:30 left"
    (tmp_path / "results.json").write_text('{"claims": {"a": {"verdict": "reproduced"}, "b": {"verdict": "inconclusive"},'
                                           ' "c": {"verdict": "reproduced"}}}')
    assert progress.verdict_counts([tmp_path]) == {"reproduced": 2, "inconclusive": 1}
