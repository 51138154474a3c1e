"""The introduction's settings come from the stages' resolved parameters, not from typed text."""

import json
import re

from tokedit_utils.book import html
from tokedit_utils.toolkit import paths


def _stamp(profile, stem, parameters):
    folder = paths.stage_dir(profile, stem)
    folder.mkdir(parents=True)
    (folder / ".stamp.json").write_text(json.dumps({"parameters": parameters}))


def test_intro_substitutions_read_each_stages_parameters(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKEDIT_RUNS", str(tmp_path))
    _stamp("toy", "01_corpora", {"synthetic_ratios": [0.0, 0.25, 1.0], "mixture_tokens": 400000,
                                 "teacher": None, "teacher_layers": 3})
    _stamp("toy", "02_collapse", {"student_layers": 2, "student_width": 64, "student_seeds": [0, 1, 2]})
    _stamp("toy", "04_editing", {"prior": "smollm2-135m-instruct", "threshold": 0.99})
    _stamp("toy", "06_training", {"edit_threshold": "dose_matched"})
    _stamp("toy", "07_ablations", {"threshold_mapping": "literal"})
    subs = html.intro_substitutions("toy")
    assert subs["ratios"] == "0, 25 and 100%" and subs["seeds"] == "3" and subs["mixture_tokens"] == "400,000"
    assert subs["prior"] == "`smollm2-135m-instruct`" and subs["threshold"] == "p = 0.99"
    assert subs["training_threshold"] == "a dose-matched threshold"
    assert subs["ablation_thresholds"] == "the paper's thresholds"
    _stamp("toy2", "06_training", {"edit_threshold": "dose_matched", "prior": "smollm2-135m-instruct",
                                   "prior_threshold": 0.99, "prior_regimes": ["cpt"]})
    assert html.intro_substitutions("toy2")["training_threshold"] == (
        "p = 0.99 with the prior for continual pre-training and a dose-matched threshold with chapter 1's "
        "teacher for pre-training and fine-tuning")
    # every substitution the page uses is defined, and the page lists every chapter of the chain
    page = (paths.PROJECT_ROOT / "book" / "intro.md").read_text()
    assert set(re.findall(r"\{\{ (\w+) \}\}", page)) <= set(subs)
    chapters = [int(n) for n in re.findall(r"\*\*Chapter (\d+),", page)]
    assert chapters == list(range(1, len(list((paths.PROJECT_ROOT / "notebooks").glob("0*.ipynb"))) + 1))
