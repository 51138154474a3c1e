"""The gpu profile before any GPU: ``extends`` in profile files, and the gpu profile's code
paths run through the chain runner on the CPU at smoke sizes (``tests/profiles/gpu_on_cpu.yml``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokedit_utils import book
from tokedit_utils.toedit.records import iter_records
from tokedit_utils.toolkit import paths, profiles

SHRUNK = Path(__file__).resolve().parent / "profiles" / "gpu_on_cpu.yml"


def test_a_profile_extends_another_and_overrides_what_it_names(tmp_path):
    (tmp_path / "base.yml").write_text("a:\n  x: 1\n  y: 2\nb:\n  z: [1, 2]\n")
    (tmp_path / "mid.yml").write_text("extends: base\na:\n  y: 3\nc:\n  w: 4\n")
    (tmp_path / "top.yml").write_text("extends: mid.yml\nb:\n  z: [5]\n")
    name, over = profiles.load_profile(str(tmp_path / "top.yml"), profiles_dir=tmp_path)
    assert name == "top" and over == {"a": {"x": 1, "y": 3}, "b": {"z": [5]}, "c": {"w": 4}}
    (tmp_path / "loop.yml").write_text("extends: loop.yml\na:\n  x: 1\n")
    with pytest.raises(profiles.ChainError, match="extends itself"):
        profiles.load_profile(str(tmp_path / "loop.yml"), profiles_dir=tmp_path)
    (tmp_path / "bad.yml").write_text("extends: [base]\n")
    with pytest.raises(profiles.ChainError, match="extends must name a profile"):
        profiles.load_profile(str(tmp_path / "bad.yml"), profiles_dir=tmp_path)
    (tmp_path / "lost.yml").write_text("extends: nowhere\n")
    with pytest.raises(profiles.ChainError, match="unknown profile 'nowhere'"):
        profiles.load_profile(str(tmp_path / "lost.yml"), profiles_dir=tmp_path)


def test_the_shrunk_profile_keeps_what_the_gpu_profile_changes_beyond_sizes():
    gpu = profiles.profile_overrides("gpu")
    name, shrunk = profiles.load_profile(str(SHRUNK))
    assert name == "gpu_on_cpu" and set(shrunk) == set(gpu)
    for stem, names in {"01_corpora": ["synthetic_ratios", "writer"], "02_collapse": ["eval_tokens_per_domain"],
                        "04_editing": ["threshold"], "07_ablations": ["threshold_mapping", "seeds"]}.items():
        assert all(shrunk[stem][n] == gpu[stem][n] for n in names), stem
    assert not book.check_overrides(name, shrunk, book.chain())  # every name is a real parameter


def tiny_instruct_model(folder: Path) -> str:
    """A random GPT-2 with a chat template, saved like any instruct model: the writer's code
    path (template, left padding, sampling) at no cost. The packaged prior it stands in for
    loads through the loader chapter 4 runs in every profile."""
    from tokedit_utils.toolkit import data, models

    texts = [r["text"] for name in data.domains() for _, r in
             iter_records(paths.CORPUS_DIR / f"{name}.jsonl.gz")][::40]
    tokenizer = models.train_tokenizer(texts, 300, min_frequency=0)
    tokenizer.chat_template = "{% for m in messages %}<|user|>{{ m['content'] }}{% endfor %}<|assistant|>"
    models.save_model(models.build_gpt2(tokenizer, 1, 16, 2, 1024, seed=0), tokenizer, folder)
    return str(folder)


def test_the_gpu_profile_code_paths_run_on_the_cpu(tmp_path):
    """Chapters 1 and 2 at smoke sizes with what the gpu profile changes beyond sizes (five
    ratios, the instruct writer, every held-out token): the other chapters' gpu settings are
    the default profile's paths (the packaged prior, literal thresholds) or sizes, which the
    smoke and default chains run."""
    rows: list[dict] = []
    writer = tiny_instruct_model(tmp_path / "writer")
    book.run_chain(str(SHRUNK), until="02_collapse", only=["02_collapse"], log=lambda line: None, report=rows,
                   sets={"01_corpora": {"writer": writer}})
    ratios = profiles.profile_overrides("gpu")["01_corpora"]["synthetic_ratios"]
    corpora = paths.read_results("gpu_on_cpu", "01_corpora")
    assert len(corpora["mixtures"]["files"]) >= len(ratios) == 5
    collapse = paths.read_results("gpu_on_cpu", "02_collapse")
    assert list(collapse["ratios"]) == ratios and len(collapse["ppl_mean"]) == len(ratios)
    # the instruct writer's corpus, its mixtures at every nonzero ratio, and students on them
    written = corpora["writer"]
    assert written["model"] == writer and written["tokens"] >= corpora["mixtures"]["tokens"]
    assert sorted(map(float, written["mixtures"])) == [r for r in ratios if r > 0]
    records = [r for _, r in iter_records(paths.stage_dir("gpu_on_cpu", "01_corpora") / "written.jsonl.gz")]
    assert all(r["prompt"] and r["text"] and r["domain"] in r["prompt"] for r in records)
    assert sorted(map(float, collapse["written"])) == [r for r in ratios if r > 0]
    for comparison in collapse["written"].values():
        assert comparison["log_ratio"]["n"] == len(collapse["seeds"]) and comparison["log_ratio"]["se"] is not None
    assert {row["stem"] for row in rows if row["status"] == "ran"} == {"01_corpora", "02_collapse"}


def test_the_gpu_check_script_dry_path(tmp_path):
    """``DRY_RUN=1 bash benchmarks/gpu_check.sh``: the environment and the profile check out
    (the runner resolves every stage's parameters) and the two timed commands are printed."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "DRY_RUN": "1", "PROFILE": str(SHRUNK), "PYTHON": sys.executable, "OUT": str(tmp_path)}
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = (tmp_path / "gpu_check_summary.txt").read_text()
    assert "environment: complete" in out
    assert all(f"[gpu_on_cpu] {nb.stem}: would run" in out for nb in book.chain()), out
    assert "benchmarks/bench_toedit.py --model smollm2-135m-instruct --device cuda --dtype bfloat16" in out
    assert f"-m tokedit_utils.book --profile {SHRUNK}" in out
