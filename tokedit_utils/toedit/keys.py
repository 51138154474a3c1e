"""A document's identity and its random stream's seed; the check of a sequence of texts."""

from __future__ import annotations

import hashlib


def text_key(text: str, prompt: str | None = None) -> str:
    """The identity of a document without an id: a hash of its text (and prompt)."""
    payload = text if prompt is None else f"{prompt}\0{text}"
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()


def document_seed(seed: int, generation: int, key: str) -> int:
    """The seed of a document's random stream: ``sha256("toedit", seed, generation, key)``."""
    digest = hashlib.sha256(f"toedit\0{seed}\0{generation}\0{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def _check_texts(texts, what: str = "texts") -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of strings, not a single {type(texts).__name__}")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{what}[{i}] is {type(text).__name__}, not a string")
    return texts
