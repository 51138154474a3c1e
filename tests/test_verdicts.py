import json

import pytest

from tokedit_utils.toolkit import stats
from tokedit_utils.chapters import verdicts


def _stage(tmp_path, stem, claims, **extra):
    folder = tmp_path / stem
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"claims": claims, **extra}))
    return folder


def _claim(verdict, **details):
    return stats.claim("a statement", verdict, ours="ours", paper="paper", metric="a metric",
                       contradicted_by="the opposite", **details)


def _sources(number):
    return next(sources for n, _, _, sources in verdicts.PAPER_CLAIMS if n == number)


def test_missing_chapters_show_as_not_run_and_fixtures_get_their_verdicts(tmp_path):
    theory = {key: _claim(stats.REPRODUCED) for _, key in _sources(7)}
    collapse_keys = [key for _, key in _sources(1)]
    collapse = {key: _claim(stats.INCONCLUSIVE) for key in collapse_keys}
    collapse[collapse_keys[0]] = _claim(stats.REPRODUCED)
    dirs = {"05_theory": _stage(tmp_path, "05_theory", theory),
            "02_collapse": _stage(tmp_path, "02_collapse", collapse),
            "04_editing": None,                       # not in the chain
            "06_training": tmp_path / "never_run"}    # in the chain, never run
    rows = {row["number"]: row for row in verdicts.collect(dirs)}
    assert rows[7]["verdict"] == stats.REPRODUCED
    assert rows[1]["verdict"] == stats.PARTLY
    assert rows[5]["verdict"] == rows[8]["verdict"] == stats.NOT_RUN
    table = verdicts.markdown_table(list(rows.values()))
    assert "(05_theory.ipynb)" in table and "(04_editing.ipynb)" not in table
    assert verdicts.counts(list(rows.values()))[stats.NOT_RUN] == 8  # all but claims 1 and 7
    assert all(set(r["rests_on"]) == {"prior", "threshold", "scale", "metric", "stand_in"} for r in rows.values())
    assert all(r["verdict"] in stats.VERDICTS for r in rows.values())


def test_a_contradicted_part_makes_a_claim_mixed_and_checks_do_not_count(tmp_path):
    collapse = {key: _claim(stats.REPRODUCED) for _, key in _sources(1)}
    collapse["ordering_every_epoch"] = _claim(stats.NOT_REPRODUCED)
    theory = {key: _claim(stats.REPRODUCED) for _, key in _sources(7)}
    theory["edit_closed_form"] = _claim(stats.NOT_REPRODUCED, role="check")
    rows = {r["number"]: r for r in verdicts.collect({"02_collapse": _stage(tmp_path, "02_collapse", collapse),
                                                      "05_theory": _stage(tmp_path, "05_theory", theory)})}
    assert rows[1]["verdict"] == stats.MIXED
    assert rows[7]["verdict"] == stats.REPRODUCED
    assert "not reproduced (check)" in verdicts.markdown_table([rows[7]])


@pytest.mark.parametrize("extra, prior, stand_in", [
    # today's chapter 6 results: the teacher at a threshold matched to chapter 4's dose
    ({"threshold": 0.62, "threshold_source": "dose-matched from chapter 4"}, "teacher (stand-in)", True),
    # the contract: a pretrained prior at the paper's threshold
    ({"edit_prior": "smollm2-135m-instruct", "edit_threshold": 0.99}, "smollm2-135m-instruct", False),
    ({"edit_prior": "smollm2-135m-instruct", "edit_threshold": 0.9}, "smollm2-135m-instruct", True),
])
def test_rests_on_reads_the_prior_and_threshold(tmp_path, extra, prior, stand_in):
    training = {key: _claim(stats.REPRODUCED) for _, key in _sources(8)}
    training["generations_stable"] = _claim(stats.REPRODUCED)
    folder = _stage(tmp_path, "06_training", training, student={"parameters": 2_100_000}, **extra)
    rows = {r["number"]: r for r in verdicts.collect({"06_training": folder})}
    for n in (8, 10):
        r = rows[n]["rests_on"]
        assert r["prior"] == prior and r["stand_in"] is stand_in
        assert r["scale"] == "2.1M-parameter students" and r["metric"] == "a metric"
    assert ("†" in verdicts.summary_html([rows[8]])) is stand_in


def test_rests_on_chapter_4_and_7(tmp_path):
    ch4 = {key: _claim(stats.NOT_TESTABLE) for _, key in _sources(6)}
    ch4["u_shaped"] = _claim(stats.REPRODUCED)
    f4 = _stage(tmp_path, "04_editing", ch4, prior="01_corpora/teacher",
                threshold={"rule": "dose_matched", "value": 0.41})
    ch7 = {key: _claim(stats.REPRODUCED) for _, key in _sources(9)}
    f7 = _stage(tmp_path, "07_ablations", ch7, thresholds={"mapping": "literal"},
                arms={"a": {"prior": "smollm2-135m-instruct", "threshold": 0.99}},
                student={"parameters": 5e6})
    rows = {r["number"]: r for r in verdicts.collect({"04_editing": f4, "07_ablations": f7})}
    assert rows[6]["verdict"] == stats.NOT_TESTABLE
    assert rows[6]["rests_on"]["threshold"] == "p = 0.41 (dose-matched)" and rows[6]["rests_on"]["stand_in"]
    assert rows[9]["rests_on"]["prior"] == "smollm2-135m-instruct" and not rows[9]["rests_on"]["stand_in"]
    assert rows[9]["rests_on"]["threshold"] == "the paper's thresholds"


def test_summary_has_ten_lines_with_badges_and_no_unknown_verdicts():
    rows = verdicts.collect({})
    page = verdicts.summary_html(rows)
    assert page.count("<tr") == 11 and page.count(">not run</span>") == 10
    assert len(verdicts.PAPER_CLAIMS) == 10
    assert set(verdicts.VERDICT_COLORS) == set(stats.VERDICTS)
