"""Peak memory of the editing command on one very long document against many short ones.

    .venv/bin/python benchmarks/bench_long_document.py [--mb 20] [--docs 200]

It writes two inputs of the same text: ``--docs`` documents of ``--mb / --docs`` MB each,
and the same text as a single one-line document. It runs the command on each in a child
process (``python -m tokedit_utils.toedit``) and prints each child's peak resident memory
(VmHWM) and their ratio. The prior is a small GPT-2 (2 layers, width 32, context 64) with
random weights and a 512-token BPE trained on the embedded corpus, as in the tests; unless
``--threshold`` is given, the threshold flags an eighth of the tokens (as in
``bench_toedit.py``), so the output texts are rebuilt too.

A long document is scored window by window, a batch at a time, so the target is a ratio
of at most 1.5. Wall times are printed too, but on a shared machine only memory is
meaningful.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from bench_toedit import ToEditor, build_random_prior, corpus_texts, run_child  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=20.0, help="megabytes of text in each input (default 20)")
    parser.add_argument("--docs", type=int, default=200, help="documents of the many-document input (default 200)")
    parser.add_argument("--threshold", type=float, help="editing threshold (default: flags 1/8 of tokens)")
    args = parser.parse_args()

    texts = corpus_texts()
    work = Path(tempfile.mkdtemp(prefix="bench-long-"))
    model, tokenizer = build_random_prior(texts[::25], {"layers": 2, "width": 32, "heads": 2, "context": 64,
                                                       "vocab": 512})
    threshold = args.threshold
    if threshold is None:
        probs = np.concatenate(ToEditor(model, tokenizer).score_texts(texts[:10]))
        threshold = float(np.nanquantile(probs, 0.875))
    model.save_pretrained(work / "prior")
    tokenizer.save_pretrained(work / "prior")

    size = int(args.mb * 1e6)
    corpus = "\n\n".join(texts)
    body = (corpus * (size // len(corpus) + 1))[:size]  # the corpus repeated: real words, real lines
    part = size // args.docs
    many = [{"id": i, "text": body[i * part:(i + 1) * part]} for i in range(args.docs)]
    (work / "many.jsonl").write_text("".join(json.dumps(r) + "\n" for r in many))
    (work / "one.jsonl").write_text(json.dumps({"id": 0, "text": body[:part * args.docs]}) + "\n")

    edit = ["--model", str(work / "prior"), "--threshold", repr(threshold), "--seed", "0", "--no-progress"]
    peak, wall = {}, {}
    for name in ("many", "one"):
        wall[name], peak[name] = run_child("tokedit_utils.toedit", ["--input", str(work / f"{name}.jsonl"),
                                                                    "--output", str(work / f"{name}.out.jsonl"),
                                                                    *edit])
        stats = json.loads((work / f"{name}.out.stats.json").read_text())
        print(f"{name:>4}: {stats['documents']:>4} document(s), {stats['tokens']:,} tokens, "
              f"{stats['flagged_fraction']:.1%} flagged: peak RSS {peak[name]:,.0f} MiB, {wall[name]:.0f} s")
    ratio = peak["one"] / peak["many"]
    print(f"peak RSS one/many = {ratio:.2f}; target <= 1.5: {'met' if ratio <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
