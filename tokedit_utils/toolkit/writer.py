"""A second synthetic corpus, written by an instruct model the way Cosmopedia was
(Ben Allal et al., 2024): each prompt asks for a text in a given style on the topic of a
seed, and the seed is a human document (its domain gives the style and audience, its
opening the topic). The prompt goes through the model's chat template; only the answer is
kept. Seeded: the same documents, prompts and samples for the same seed.
"""

from __future__ import annotations

import random
from typing import Sequence

import torch

from . import models
from .progress import Bar

#: The style of the text asked for, by the seed document's domain (the embedded corpus's
#: domains); any other domain gets the general style, as Cosmopedia's web seeds did.
STYLES = {
    "drama": "a scene summary and commentary for a theatre programme, for a general audience",
    "fiction": "a short story in the same setting, for adult readers",
    "scripture": "a study-guide passage explaining the text, for a reading group",
    "speeches": "a speech on the same subject, for a public audience",
    "technical": "a section of a tutorial, for programmers",
    "reference": "a set of glossary entries with examples, for students",
}
GENERAL_STYLE = "an educational blog post, for a general audience"

PROMPT = ("Here is the opening of a {domain} text:\n\n\"{opening}\"\n\nWrite {style}, on the topic "
          "this opening suggests. Do not repeat the opening; write the new text only.")


def writer_prompts(ds, n: int, opening_words: int = 48, seed: int = 0) -> list[dict]:
    """``n`` prompts ``{"domain", "seed_id", "prompt"}``, each seeded by a random document of
    ``ds`` (columns text, domain; ids if it has them): its domain picks the style and its
    first ``opening_words`` words are the topic."""
    rng = random.Random(seed)
    usable = [i for i, text in enumerate(ds["text"]) if len(text.split()) >= 8]
    if not usable:
        raise ValueError("no document of at least 8 words to seed a prompt from")
    ids = ds["id"] if "id" in ds.column_names else [str(i) for i in range(len(ds))]
    out = []
    for _ in range(n):
        i = rng.choice(usable)
        domain = ds[i]["domain"]
        opening = " ".join(ds[i]["text"].split()[:opening_words])
        out.append({"domain": domain, "seed_id": str(ids[i]), "prompt": PROMPT.format(
            domain=domain, opening=opening, style=STYLES.get(domain, GENERAL_STYLE))})
    return out


@torch.inference_mode()
def write(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, *, temperature: float = 0.7,
          top_p: float = 0.9, batch_size: int = 32, seed: int = 0) -> list[str]:
    """The model's answer to each prompt (through its chat template), sampled, seeded per batch."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the writer's tokenizer has no chat template: an instruct model is needed")
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    answers: list[str] = []
    bar = Bar(total=len(prompts) * max_new_tokens, desc="writing", unit="tok", unit_scale=True, leave=False)
    for b, lo in enumerate(range(0, len(prompts), batch_size)):
        chats = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=True,
                                               add_generation_prompt=True) for p in prompts[lo:lo + batch_size]]
        chats = [c["input_ids"] if hasattr(c, "keys") else c for c in chats]  # newer versions: a BatchEncoding
        width = max(map(len, chats))  # left padding: every answer starts at the same column
        ids = torch.tensor([[pad] * (width - len(c)) + list(c) for c in chats], device=device)
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chats], device=device)
        torch.manual_seed(seed * 100_003 + b)
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=temperature,
                             top_p=top_p, top_k=0, max_new_tokens=max_new_tokens, pad_token_id=pad)
        answers += [text.strip() for text in tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)]
        bar.update(len(chats) * max_new_tokens)
    bar.close()
    return answers


def write_corpus(writer: str, ds, book_tokenizer, target_tokens: int, *, new_tokens: int = 256,
                 batch_size: int = 32, temperature: float = 0.7, top_p: float = 0.9, seed: int = 0,
                 device: str | None = None) -> list[dict]:
    """Records ``{"id", "domain", "seed_id", "prompt", "text", "tokens"}`` written by the
    instruct model ``writer`` (a packaged prior's name, a folder or a hub id) from prompts
    seeded by ``ds``, until ``target_tokens`` tokens of ``book_tokenizer`` (the book's own
    tokenizer: the mixtures count its tokens). An empty answer is dropped."""
    model, tokenizer = models.load_causal_lm(writer, device=device)
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is None:
        raise ValueError(f"the writer {writer!r} has neither a pad nor an end-of-text token")
    records, total, round_ = [], 0, 0
    while total < target_tokens:
        # as if every answer ran to its length limit (about one book token per writer token):
        # a short count is made up by another round, not by an oversized first one
        need = max(batch_size, int((target_tokens - total) / new_tokens * 1.05))
        prompts = writer_prompts(ds, need, seed=seed * 1000 + round_)
        answers = write(model, tokenizer, [p["prompt"] for p in prompts], new_tokens, temperature=temperature,
                        top_p=top_p, batch_size=batch_size, seed=seed * 1000 + round_)
        for prompt, text in zip(prompts, answers):
            n = len(book_tokenizer(text, add_special_tokens=False)["input_ids"])
            if n:
                records.append({"id": f"written-{len(records):06d}", **prompt, "text": text, "tokens": n})
                total += n
        round_ += 1
        if round_ > 20:
            raise RuntimeError(f"the writer {writer!r} wrote only {total:,} of {target_tokens:,} tokens "
                               f"in 20 rounds of prompts")
    return records
