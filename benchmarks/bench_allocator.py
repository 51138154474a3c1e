"""What ``session.tune_cpu_allocator`` buys: forward and training throughput, with and without.

    .venv/bin/python benchmarks/bench_allocator.py [--layers 3 --width 128 --context 128 --batch 32]

The allocator setting is process-wide, so each arm runs in child processes on the same
model (GPT-2 from config, seed 0, the default teacher's shape) and the same random
batches. The arms alternate for ``--rounds`` rounds in this one run; each keeps its best
timing, and the ratio is printed. Minor page faults and system time are reported because
that is where the difference comes from.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(args) -> dict:
    sys.path.insert(0, str(ROOT))
    from tokedit_utils.toolkit.session import tune_cpu_allocator

    tuned = tune_cpu_allocator()
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=args.vocab, n_positions=args.context, n_embd=args.width, n_layer=args.layers,
                        n_head=args.heads, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(config)
    batch = torch.randint(0, args.vocab, (args.batch, args.context))
    tokens = batch.numel()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def forward():
        with torch.inference_mode():
            model.eval()
            model(input_ids=batch, use_cache=False)

    def train_step():
        model.train()
        loss = model(input_ids=batch, labels=batch, use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    out = {"tuned": tuned}
    for name, fn in (("forward", forward), ("train", train_step)):
        fn()  # warm-up
        best = float("inf")
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for _ in range(args.steps):
                fn()
            best = min(best, time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        out[name] = {"tokens_per_s": args.steps * tokens / best, "minor_faults": r1.ru_minflt - r0.ru_minflt,
                     "system_s": r1.ru_stime - r0.ru_stime}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5, help="steps per timing")
    parser.add_argument("--repeats", type=int, default=3, help="timings per child process; the best is kept")
    parser.add_argument("--rounds", type=int, default=3, help="child processes per arm, alternating")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return

    # the arms alternate, round after round, and each keeps its best: the machine's speed
    # drifts, and a slow spell should not land on one arm only
    results = {}
    for _ in range(args.rounds):
        for arm in ("untuned", "tuned"):
            env = dict(os.environ, HF_HUB_OFFLINE="1")
            env.pop("TOKEDIT_NO_MALLOC_TUNING", None)
            if arm == "untuned":
                env["TOKEDIT_NO_MALLOC_TUNING"] = "1"
            proc = subprocess.run([sys.executable, __file__, "--child", *sys.argv[1:]], env=env, check=True,
                                  capture_output=True, text=True)
            now = json.loads(proc.stdout.strip().splitlines()[-1])
            best = results.setdefault(arm, now)
            for name in ("forward", "train"):
                if now[name]["tokens_per_s"] > best[name]["tokens_per_s"]:
                    best[name] = now[name]
    if not results["tuned"]["tuned"]:
        print("tune_cpu_allocator() did not apply here (not glibc?): both arms are the same")
    print(f"GPT-2 L={args.layers} d={args.width} T={args.context} V={args.vocab}, batch {args.batch}, "
          f"{os.cpu_count()} CPUs")
    for name in ("forward", "train"):
        u, t = results["untuned"][name], results["tuned"][name]
        print(f"{name:8s} untuned {u['tokens_per_s']:>9,.0f} tok/s ({u['minor_faults']:>9,} page faults, "
              f"{u['system_s']:.2f} s system) | tuned {t['tokens_per_s']:>9,.0f} tok/s ({t['minor_faults']:>9,} "
              f"page faults, {t['system_s']:.2f} s system) | tuned/untuned {t['tokens_per_s'] / u['tokens_per_s']:.2f}")


if __name__ == "__main__":
    main()
