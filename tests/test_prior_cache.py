"""The packaged prior's cache of dequantized weights: what a load reads after the first is
the GGUF file's own weights and vocabulary, checked against the file with the ``gguf``
reader (which dequantizes one tensor in milliseconds, where transformers' GGUF load of the
whole model takes about half a minute)."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch

from tokedit_utils.toedit import prior

NAME = "smollm2-135m-instruct"
# GGUF tensor -> transformers parameter; q and k are left out, since the GGUF converter
# permutes them for llama.cpp's rotary layout
TENSORS = {"token_embd.weight": "model.embed_tokens.weight",
           "blk.0.ffn_down.weight": "model.layers.0.mlp.down_proj.weight",
           "blk.29.attn_v.weight": "model.layers.29.self_attn.v_proj.weight",
           "blk.15.ffn_norm.weight": "model.layers.15.post_attention_layernorm.weight"}


@pytest.fixture(scope="module")
def cached_prior():
    model, tokenizer = prior.load_causal_lm(NAME, device="cpu")  # writes the cache if missing
    cache = prior.dequantized_cache(NAME)
    assert (cache / "model.safetensors").is_file() and (cache / "tokenizer.json").is_file()
    return prior.load_causal_lm(NAME, device="cpu")  # from the cache


def test_the_cache_holds_the_gguf_files_weights_and_vocabulary(cached_prior):
    model, tokenizer = cached_prior
    reader = gguf.GGUFReader(prior.packaged_file(NAME))
    tensors = {t.name: t for t in reader.tensors}
    params = model.state_dict()
    for name, param in TENSORS.items():
        weights = gguf.quants.dequantize(tensors[name].data, tensors[name].tensor_type)
        assert torch.equal(torch.from_numpy(np.ascontiguousarray(weights)).float(), params[param]), name
    field = reader.fields["tokenizer.ggml.tokens"]
    vocabulary = [bytes(field.parts[i]).decode() for i in field.data]
    assert tokenizer.convert_ids_to_tokens(list(range(len(vocabulary)))) == vocabulary
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.chat_template  # an instruct model's


def test_the_cache_folder_is_keyed_on_the_wheel_and_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("TOKEDIT_CACHE", str(tmp_path))
    folder = prior.dequantized_cache(NAME)
    assert folder.parent == tmp_path / "priors"
    assert folder.name == f"{NAME}-0.1.2-{prior.packaged_file(NAME).stat().st_size}"
