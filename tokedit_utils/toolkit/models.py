"""Tokenizer and language models: train a byte-level BPE, build GPT-2 models from a config,
and load any causal LM from a local folder or a hub id."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from ..toedit.prior import DTYPES, load_causal_lm, pick_device, pick_dtype  # noqa: F401 (the toolkit's API)

EOS = "<|endoftext|>"


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """A byte-level BPE (GPT-2 style) trained with `tokenizers`; lossless on any text."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # clean_up_tokenization_spaces would turn " ." into "." on decode and break round trips.
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOS,
        eos_token=EOS,
        pad_token=EOS,
        unk_token=None,
        clean_up_tokenization_spaces=False,
    )


def gpt2_config(tokenizer, n_layer: int, n_embd: int, n_head: int, n_positions: int) -> GPT2Config:
    """A GPT-2 config sized for CPU training: no dropout (it halves CPU speed; 1-3 epochs need none)."""
    return GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )


def build_gpt2(tokenizer, n_layer: int = 2, n_embd: int = 128, n_head: int = 4, n_positions: int = 128, seed: int = 0) -> GPT2LMHeadModel:
    """A freshly initialised GPT-2 model (seeded)."""
    torch.manual_seed(seed)
    return GPT2LMHeadModel(gpt2_config(tokenizer, n_layer, n_embd, n_head, n_positions))


def count_parameters(model, non_embedding: bool = False) -> int:
    total = sum(p.numel() for p in model.parameters())
    if non_embedding:
        total -= sum(p.numel() for n, p in model.named_parameters() if "wte" in n or "wpe" in n)
    return total


def save_model(model, tokenizer, folder: str | os.PathLike) -> Path:
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
