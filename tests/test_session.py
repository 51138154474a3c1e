"""session.tune_cpu_allocator: a forward pass reuses freed activations instead of faulting fresh pages in."""

import os
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import resource
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    from tokedit_utils.toolkit.session import tune_cpu_allocator
    applied = tune_cpu_allocator()
    model = GPT2LMHeadModel(GPT2Config(vocab_size=4096, n_positions=128, n_embd=64, n_layer=1, n_head=2)).eval()
    batch = torch.randint(0, 4096, (32, 128))
    with torch.inference_mode():
        model(input_ids=batch)  # warm-up: first touches happen in both arms
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(6):
            model(input_ids=batch)  # 64 MiB of logits, allocated and freed each time
    print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def faults(env_extra):
    env = dict(os.environ, **env_extra)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    applied, count = out.stdout.split()
    return applied == "True", int(count)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_allocator_reuses_freed_blocks():
    applied, tuned = faults({"TOKEDIT_NO_MALLOC_TUNING": ""})
    not_applied, untuned = faults({"TOKEDIT_NO_MALLOC_TUNING": "1"})
    assert applied and not not_applied
    # untuned: the logits alone are a fresh 64 MiB mmap each pass, 16k page faults
    assert untuned > 6 * 16_000, untuned
    assert tuned < untuned / 3, (tuned, untuned)


def test_chapter_writes_figures_and_results_into_its_stage(tmp_path, monkeypatch):
    """The setup call's chapter writes where the runner points it, figures as PNGs and
    results with paths made relative to the stage."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tokedit_utils.toolkit import session

    monkeypatch.setenv("TOKEDIT_STAGE_DIR", str(tmp_path / "stage"))
    ch = session.Chapter("01_corpora", "smoke")
    assert ch.out_dir == tmp_path / "stage" and ch.out_dir.is_dir()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    ch.show(fig, "line")
    assert (ch.out_dir / "figures" / "line.png").stat().st_size > 0
    ch.write_results({"file": str(ch.out_dir / "teacher"), "seconds": ch.seconds()})
    written = json.loads((ch.out_dir / "results.json").read_text())
    assert written["file"] == "teacher" and written["seconds"] >= 0
    assert ch.cpu_seconds() >= 0
