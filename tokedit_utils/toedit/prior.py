"""Loading the prior: any causal LM from a local folder or a hub id, on the best device."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def pick_device(preferred: str | None = None) -> torch.device:
    """CUDA, then MPS, then CPU (or what ``preferred`` names)."""
    if preferred:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
          "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def pick_dtype(device: torch.device) -> torch.dtype:
    """Inference dtype: bf16 (else fp16) on CUDA, fp16 on MPS, float32 on the CPU."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def load_causal_lm(name_or_path: str | os.PathLike, device: str | None = None, dtype: torch.dtype | str | None = None):
    """Load (model, tokenizer) from a local folder written by ``save_pretrained`` or a hub id.

    Hub ids need a network connection with HF_HUB_OFFLINE unset; the error otherwise says so.
    """
    where = str(name_or_path)
    dev = pick_device(device)
    if isinstance(dtype, str):
        dtype = DTYPES[dtype]
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype or pick_dtype(dev))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        hint = "" if Path(where).exists() else " (not a local folder; as a hub id it needs a network connection and HF_HUB_OFFLINE unset)"
        raise OSError(f"cannot load a causal LM from {where!r}{hint}: {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(dev).eval(), tokenizer
