"""Sampling synthetic text from a teacher model with ordinary decoding settings."""

from __future__ import annotations

import random
from typing import Sequence

import torch
from .progress import Bar  # text bars (stderr), reported to the runner; not in the built book


def human_prompts(ds, tokenizer, n: int, prompt_tokens: int, seed: int = 0) -> tuple[list[list[int]], list[str]]:
    """``n`` prompts of exactly ``prompt_tokens`` tokens, each the opening of a span of human
    text at a random offset of a random document of ``ds`` (columns text, domain), and the
    domain each prompt came from. Seeded."""
    rng = random.Random(seed)
    encoded = tokenizer(list(ds["text"]), add_special_tokens=False)["input_ids"]
    usable = [i for i, ids in enumerate(encoded) if len(ids) > prompt_tokens]
    prompts, domains = [], []
    for _ in range(n):
        i = rng.choice(usable)
        start = rng.randrange(0, len(encoded[i]) - prompt_tokens)
        prompts.append(encoded[i][start : start + prompt_tokens])
        domains.append(ds[i]["domain"])
    return prompts, domains


@torch.inference_mode()
def sample_continuations(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 0.9,
    batch_size: int = 128,
    seed: int = 0,
) -> list[str]:
    """Sample one continuation per prompt (equal-length prompts, so no padding) and return
    the generated text only, without the prompt. Seeded per batch."""
    device = next(model.parameters()).device
    texts: list[str] = []
    bar = Bar(total=len(prompts) * max_new_tokens, desc="sampling", unit="tok", unit_scale=True, leave=False)
    for b, i in enumerate(range(0, len(prompts), batch_size)):
        torch.manual_seed(seed * 100_003 + b)
        ids = torch.tensor(prompts[i : i + batch_size], dtype=torch.long, device=device)
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=True,
            temperature=temperature,
            top_p=top_p,
            top_k=0,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.eos_token_id,
            # a preallocated KV cache: the default one grows by concatenation at every step
            # (measured on chapter 1's teacher at batch 512: 10.4 s -> 7.5 s per 57k tokens)
            cache_implementation="static",
        )
        new = out[:, ids.shape[1] :]
        for row in new.tolist():
            # Stop at the first end-of-text: a sampled document boundary ends this sample.
            if tokenizer.eos_token_id in row:
                row = row[: row.index(tokenizer.eos_token_id)]
            texts.append(tokenizer.decode(row))
        bar.update(new.numel())
    bar.close()
    return texts


def sample_corpus(
    model,
    tokenizer,
    ds,
    target_tokens: int,
    prompt_tokens: int = 16,
    new_tokens: int = 112,
    temperature: float = 1.0,
    top_p: float = 0.9,
    batch_size: int = 128,
    seed: int = 0,
) -> list[dict]:
    """Sample continuations of human prompts from ``ds`` until ``target_tokens`` synthetic
    tokens exist. Records: id, domain (of the prompt's document), text (continuation only),
    tokens. A continuation cut short by a sampled end-of-text is kept as it is."""
    records: list[dict] = []
    total, round_ = 0, 0
    while total < target_tokens:
        need = max(batch_size, int((target_tokens - total) / new_tokens * 1.05))
        prompts, domains = human_prompts(ds, tokenizer, need, prompt_tokens, seed=seed * 1000 + round_)
        texts = sample_continuations(model, tokenizer, prompts, new_tokens, temperature, top_p, batch_size, seed=seed * 1000 + round_)
        for text, domain in zip(texts, domains):
            n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
            if n == 0:
                continue
            records.append({"id": f"synthetic-{len(records):06d}", "domain": domain, "text": text, "tokens": n})
            total += n
        round_ += 1
    return records
