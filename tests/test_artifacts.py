"""A finished stage's artifacts still work after the runner renames its temporary folder."""

import json
import os

import pytest

from tokedit_utils.toolkit import data, models, paths, tasks

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (fixtures: tests/conftest.py)


def test_task_files_and_model_folders_work_after_the_rename(tmp_path):
    partial, final = tmp_path / ".02_collapse.partial", tmp_path / "02_collapse"
    corpus = data.load_embedded_corpus(max_docs_per_domain=6)
    tokenizer = models.train_tokenizer(corpus["train"]["text"], vocab_size=300)
    model = models.build_gpt2(tokenizer, n_layer=1, n_embd=16, n_head=2, n_positions=64)
    models.save_model(model, tokenizer, partial / "students" / "s0")
    counts = tasks.build_task_files(partial / "lm_eval_tasks", corpus["test"], 6, context_words=10,
                                    continuation_words=4, tokenizer=tokenizer, max_choice_tokens=32)
    assert counts[tasks.CONTINUATION] == 6
    run = {"folder": partial / "students" / "s0", "nested": [{"file": str(partial / "lm_eval_tasks")}]}
    paths.write_results(partial, {"runs": [run]})
    os.replace(partial, final)

    results = json.loads((final / "results.json").read_text())
    assert results["runs"][0]["folder"] == "students/s0"
    assert results["runs"][0]["nested"][0]["file"] == "lm_eval_tasks"
    for yaml_file in (final / "lm_eval_tasks").glob("*.yaml"):
        assert str(tmp_path) not in yaml_file.read_text()
    scores = tasks.evaluate(final / results["runs"][0]["folder"], final / "lm_eval_tasks", batch_size=8)
    assert scores[tasks.CONTINUATION]["n"] == 6
