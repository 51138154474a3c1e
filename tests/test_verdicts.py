import json

from tokedit_utils.toolkit import stats
from tokedit_utils.chapters import verdicts


def _stage(tmp_path, stem, claims):
    folder = tmp_path / stem
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"claims": claims}))
    return folder


def _claim(verdict):
    return stats.claim("a statement", verdict, ours="ours", paper="paper")


def test_missing_chapters_show_as_not_run_and_fixtures_get_their_verdicts(tmp_path):
    theory = {key: _claim(stats.REPRODUCED) for _, key in
              next(sources for n, _, sources in verdicts.PAPER_CLAIMS if n == 7)}
    collapse_keys = [key for _, key in next(s for n, _, s in verdicts.PAPER_CLAIMS if n == 1)]
    collapse = {key: _claim(stats.INCONCLUSIVE) for key in collapse_keys}
    collapse[collapse_keys[0]] = _claim(stats.REPRODUCED)
    dirs = {"05_theory": _stage(tmp_path, "05_theory", theory),
            "02_collapse": _stage(tmp_path, "02_collapse", collapse),
            "04_editing": None,                       # not in the chain
            "06_training": tmp_path / "never_run"}    # in the chain, never run
    rows = {row["number"]: row for row in verdicts.collect(dirs)}
    assert rows[7]["verdict"] == stats.REPRODUCED
    assert rows[1]["verdict"] == verdicts.PARTLY
    assert rows[5]["verdict"] == rows[8]["verdict"] == verdicts.NOT_RUN
    table = verdicts.markdown_table(list(rows.values()))
    assert "(05_theory.ipynb)" in table and "(04_editing.ipynb)" not in table
    assert verdicts.counts(list(rows.values()))[verdicts.NOT_RUN] == 8  # all but claims 1 and 7


def test_overall_verdict_rules():
    R, N, I = stats.REPRODUCED, stats.NOT_REPRODUCED, stats.INCONCLUSIVE
    assert verdicts.overall([R, R]) == R
    assert verdicts.overall([N, I]) == N
    assert verdicts.overall([I, I]) == I
    assert verdicts.overall([R, N]) == verdicts.PARTLY
    assert verdicts.overall([verdicts.NOT_RUN]) == verdicts.NOT_RUN
