"""The engine's overlapped pipeline (tokenize the next chunk and rebuild the last one during
a forward pass) against its serial path, and the batch cut that bounds a batch's logits."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from tokedit_utils.toedit import ToEditor, overlap
from tokedit_utils.toedit.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")  # fixtures: tests/conftest.py


def _edit(editor, texts, **kw):
    return [(r.text, r.flagged, r.changed, r.probs.tobytes()) for r in
            editor.edit_texts(texts, ids=list(range(len(texts))), seed=5, return_probs=True, **kw)]


@pytest.mark.parametrize("batch_size, chunk_docs", [(1, 3), (4, 2), (32, 5), (7, 256)])
def test_the_overlapped_path_gives_the_serial_bytes(gpt2, tok, texts, batch_size, chunk_docs):
    assert max(len(tok(t)["input_ids"]) for t in texts) > 3 * gpt2.config.n_positions  # several windows
    serial = ToEditor(gpt2, tok, threshold=0.003, batch_size=batch_size, chunk_docs=chunk_docs, overlap="off")
    overlapped = ToEditor(gpt2, tok, threshold=0.003, batch_size=batch_size, chunk_docs=chunk_docs, overlap="on")
    ref = _edit(serial, texts)
    assert sum(text != t for (text, *_), t in zip(ref, texts)) > len(texts) // 2  # the edits are real
    assert _edit(overlapped, texts) == ref
    overlapped.segment_chars = serial.segment_chars = 400  # long documents, a segment at a time, too
    assert _edit(overlapped, texts) == _edit(serial, texts)


def test_the_cpu_steps_run_beside_the_forward_pass():
    """While job k is scored, the worker prepares job k+1 and collects job k-1."""
    log, lock = [], threading.Lock()

    def note(what, value):
        with lock:
            log.append((what, value, threading.current_thread().name))
        return value

    out = list(overlap.pipeline(range(4), lambda j: note("prepare", j), lambda j: note("score", j),
                                lambda j, s: note("collect", j)))
    assert out == [0, 1, 2, 3]
    assert {name for what, _, name in log if what == "score"} == {threading.main_thread().name}
    assert all(name.startswith("toedit-cpu") for what, _, name in log if what != "score")
    log.clear()
    out = list(overlap.pipeline(range(4), lambda j: note("prepare", j), lambda j: note("score", j),
                                lambda j, s: note("collect", j), overlap=False))
    assert out == [0, 1, 2, 3] and {name for *_, name in log} == {threading.main_thread().name}


def test_an_error_in_the_worker_reaches_the_caller():
    def collect(job, scored):
        raise ValueError(f"bad job {job}")

    with pytest.raises(ValueError, match="bad job 0"):
        list(overlap.pipeline(range(3), lambda j: j, lambda j: j, collect))


def test_the_command_overlapped_and_serial_write_the_same_bytes(prior_dir, texts, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    common = ["--model", str(prior_dir), "--input", str(src), "--threshold", "0.003", "--no-progress",
              "--chunk-docs", "3", "--batch-size", "2"]
    assert main(common + ["--output", str(tmp_path / "a.jsonl"), "--overlap", "on"]) == 0
    assert main(common + ["--output", str(tmp_path / "b.jsonl"), "--overlap", "off"]) == 0
    a, b = (tmp_path / "a.jsonl").read_bytes(), (tmp_path / "b.jsonl").read_bytes()
    assert a == b and a != src.read_bytes()


def test_the_batch_is_cut_to_bound_its_logits(gpt2, tok, texts, caplog):
    per_window = 64 * gpt2.config.vocab_size * 4  # context x vocabulary x 4 bytes
    editor = ToEditor(gpt2, tok, batch_size=32, max_logits_gib=3.5 * per_window / 2**30)
    with caplog.at_level(logging.WARNING, logger="tokedit_utils.toedit.editor"):
        assert editor.forward_batch_size() == 3
        ref = editor.edit_texts(texts, seed=1)
        editor.forward_batch_size()
    [message] = [r.getMessage() for r in caplog.records]  # said once
    assert "batch of 32 windows of 64 tokens" in message and "editing 3 window(s) per forward pass" in message
    assert [r.text for r in ToEditor(gpt2, tok, batch_size=3).edit_texts(texts, seed=1)] == [r.text for r in ref]
    assert ToEditor(gpt2, tok, batch_size=32).forward_batch_size() == 32  # 2 GiB on a CPU: no cut here
    with pytest.raises(ValueError, match="max_logits_gib"):
        ToEditor(gpt2, tok, max_logits_gib=0)


def test_a_long_context_prior_at_the_defaults_fits_its_logits():
    """SmolLM2's shape (8,192 positions, 49,152 tokens) at the command's default batch of 32:
    210 GiB of logits uncut; cut to what 2 GiB holds."""
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models, pre_tokenizers

    config = LlamaConfig(vocab_size=49152, hidden_size=8, intermediate_size=8, num_hidden_layers=1,
                         num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=8192)
    backend = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    editor = ToEditor(LlamaForCausalLM(config), tokenizer)
    assert editor.context == 8192 and editor.batch_size == 32
    assert editor.forward_batch_size() == 1  # 1.5 GiB a window
