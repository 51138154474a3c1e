"""Speed of the ToEdit engine against its floor and against a per-token Python loop.

    .venv/bin/python benchmarks/bench_toedit.py [--model DIR] [--docs 100] [--repeats 2]

In one run, on the same prior, the same texts and the same windows/batches, it measures
(tokens = document tokens, best of ``--repeats``):

  (a) the forward pass alone: the model calls the engine makes (logits only at scored
      positions), nothing else: the floor for this method;
  (b) the engine end to end: ``ToEditor.edit_texts`` (tokenize, forward, score, flag,
      sample, rebuild the texts);
  (c) the official script's way: the same tokenization and forward pass, log-probs and
      top-k candidates computed on the device (what vLLM's ``prompt_logprobs`` returns),
      then a plain Python loop over tokens doing the same top-k resampling
      (``p**(1/beta)`` over the k candidates), then ``tokenizer.decode``.

and prints b/a and b/c, plus the after-forward work alone (engine vs loop). Without
``--model`` it uses ``runs/default/01_corpora/teacher`` if it exists, else builds a prior
of that size from config (GPT-2, 4 layers, d=256, 4 heads, 256 positions, a 4096-token
BPE trained on the embedded corpus) with random weights; the threshold is then set to
flag 12.5% of tokens (the paper's Table 15 rate), because random weights never reach
0.99. CPU only in this project's runs (no GPU was available).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from tokedit_utils.toedit import ToEditor, load_prior  # noqa: E402

TEACHER = ROOT / "runs" / "default" / "01_corpora" / "teacher"


def corpus_texts() -> list[str]:
    texts = []
    for path in sorted((ROOT / "data" / "corpus").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            texts.extend(json.loads(line)["text"] for line in handle if line.strip())
    return texts


def build_default_prior(texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=4096, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                        eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=256, n_layer=4, n_head=4,
                        bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config).eval(), tokenizer


def layout(editor: ToEditor, texts):
    docs = editor._prepare(texts, [f"id:{i}" for i in range(len(texts))], None, 0, 1)
    lengths = np.asarray([len(d.ids) for d in docs])
    starts = np.concatenate([[0], np.cumsum(lengths)])
    flat = torch.from_numpy(np.concatenate([d.ids for d in docs]))
    editable = torch.from_numpy(np.concatenate([d.editable for d in docs]))
    return docs, starts, flat, editable


@torch.inference_mode()
def forward_only(editor: ToEditor, texts) -> tuple[float, int]:
    docs, starts, flat, editable = layout(editor, texts)
    batches = list(editor._batches(docs, flat, editable, starts))
    t0 = time.perf_counter()
    for inp, att, keep, _ in batches:
        editor._logits(inp, att, keep)
    return time.perf_counter() - t0, int(len(flat))


def engine(editor: ToEditor, texts):
    editor.forward_seconds = 0.0
    t0 = time.perf_counter()
    results = editor.edit_texts(texts, ids=[f"id:{i}" for i in range(len(texts))], seed=0)
    return time.perf_counter() - t0, editor.forward_seconds, results


@torch.inference_mode()
def python_loop(editor: ToEditor, texts, threshold: float, k: int, beta: float) -> tuple[float, float, int]:
    """Official-script style: device log-probs + top-k per position, then a Python loop."""
    rng = random.Random(0)
    t0 = time.perf_counter()
    docs, starts, flat, editable = layout(editor, texts)
    new_ids = flat.tolist()
    forward_s = 0.0
    for inp, att, keep, gidx in editor._batches(docs, flat, editable, starts):
        t1 = time.perf_counter()
        logits = editor._logits(inp, att, keep)
        forward_s += time.perf_counter() - t1
        logprobs = torch.log_softmax(logits, dim=-1)
        actual = logprobs.gather(1, flat[gidx][:, None]).squeeze(1).tolist()
        top_lp, top_id = logprobs.topk(k, dim=-1)
        top_lp, top_id, positions = top_lp.tolist(), top_id.tolist(), gidx.tolist()
        for pos, lp, cand_lp, cand_id in zip(positions, actual, top_lp, top_id):  # the per-token loop
            if math.exp(lp) >= threshold:
                weights = [math.exp(v / beta) for v in cand_lp]
                new_ids[pos] = rng.choices(cand_id, weights)[0]
    texts_out = [editor.tokenizer.decode(new_ids[starts[i]:starts[i + 1]], skip_special_tokens=True)
                 for i in range(len(docs))]
    assert len(texts_out) == len(texts)
    return time.perf_counter() - t0, forward_s, int(len(flat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="prior folder (default: the chapter-1 teacher, else a model of its size)")
    parser.add_argument("--docs", type=int, default=100, help="documents from the embedded corpus (default 100)")
    parser.add_argument("--repeats", type=int, default=2, help="timing repeats; the best is kept")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threshold", type=float, help="default 0.99 (a trained prior) or the 87.5th percentile")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    texts_all = corpus_texts()
    model_path = args.model or (str(TEACHER) if TEACHER.exists() else None)
    if model_path:
        model, tokenizer = load_prior(model_path, device="cpu")
        print(f"prior: {model_path}")
    else:
        t0 = time.perf_counter()
        model, tokenizer = build_default_prior(texts_all)
        print(f"prior: no --model and no {TEACHER.relative_to(ROOT)}; built the default teacher size from config "
              f"(GPT-2 L=4 d=256 heads=4 T=256 V={len(tokenizer)}, random weights, tokenizer trained on the corpus "
              f"in {time.perf_counter() - t0:.1f} s)")
    step = max(len(texts_all) // args.docs, 1)
    texts = texts_all[::step][: args.docs]
    editor = ToEditor(model, tokenizer, batch_size=args.batch_size)
    threshold = args.threshold
    if threshold is None:
        threshold = 0.99
        if not model_path:
            probs = np.concatenate(editor.score_texts(texts[:10]))
            threshold = float(np.nanquantile(probs, 0.875))
    editor.threshold = threshold
    print(f"device: cpu ({torch.get_num_threads()} threads; no GPU available), params "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M, context {editor.context}, stride {editor.stride}, "
          f"batch {args.batch_size} windows, threshold {threshold:.4g}, top-k k={editor.k} beta={editor.beta}")

    best = {"a": math.inf, "b": math.inf, "c": math.inf, "b_post": math.inf, "c_post": math.inf}
    for rep in range(args.repeats):
        ta, n_tok = forward_only(editor, texts)
        tb, tb_fwd, results = engine(editor, texts)
        tc, tc_fwd, _ = python_loop(editor, texts, threshold, editor.k, editor.beta)
        now = {"a": ta, "b": tb, "c": tc, "b_post": tb - tb_fwd, "c_post": tc - tc_fwd}
        best = {key: min(best[key], now[key]) for key in best}
        print(f"  repeat {rep + 1}: a {ta:.2f} s, b {tb:.2f} s (forward {tb_fwd:.2f} s), "
              f"c {tc:.2f} s (forward {tc_fwd:.2f} s)")
    flagged = sum(r.flagged for r in results) / max(sum(r.scored for r in results), 1)
    rate = {key: n_tok / value for key, value in best.items()}
    print(f"texts: {len(texts)} documents, {n_tok:,} tokens, {flagged:.1%} flagged")
    print(f"(a) forward pass alone      : {rate['a']:>10,.0f} tokens/s")
    print(f"(b) ToEdit engine           : {rate['b']:>10,.0f} tokens/s")
    print(f"(c) per-token Python loop   : {rate['c']:>10,.0f} tokens/s")
    print(f"b/a = {rate['b'] / rate['a']:.3f}   b/c = {rate['b'] / rate['c']:.2f}")
    print(f"everything but the model calls (tokenize, score, flag, sample, rebuild; measured inside b and c): "
          f"engine {n_tok / best['b_post']:,.0f} tokens/s, loop {n_tok / best['c_post']:,.0f} tokens/s "
          f"({best['c_post'] / best['b_post']:.1f}x)")


if __name__ == "__main__":
    main()
