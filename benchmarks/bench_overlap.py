"""The engine's overlapped pipeline against its serial path, measured in one run (imported
by ``bench_toedit.py``; its numbers are printed beside the others).

Both arms edit the same texts with the same editor in one ``edit_texts`` call, cut into
engine chunks of ``--chunk`` documents, so each timed call spans several chunks (the
overlap happens between chunks: the next one is tokenized and the last one rebuilt during
a forward pass). A third arm times forward + log-softmax (a') on the same chunks in the same
rounds, so the engine's ratio to it is measured in one stretch of the machine's speed. The
arms rotate their order every repeat; each keeps its best time. The windows and batches are
the same in all three, chunk for chunk.
"""

from __future__ import annotations

import time

import numpy as np

#: FineWeb-Edu's quality classifier (a ~100M-parameter model) annotated 15T tokens in about
#: 6,000 H100-hours (the FineWeb paper, Penedo et al. 2024): the field's reference rate.
FINEWEB_EDU_TOKENS, FINEWEB_EDU_H100_HOURS = 15e12, 6000


def fineweb_edu_rate() -> float:
    """Tokens per second per H100 of the reference, computed from its two numbers."""
    return FINEWEB_EDU_TOKENS / (FINEWEB_EDU_H100_HOURS * 3600)


def measure_overlap(editor, chunks, tokens: int, repeats: int, floor) -> dict:
    """Rates (tokens/s) of the engine overlapped and serial over all ``chunks`` at once, and
    of ``floor(chunk)`` (seconds of forward + log-softmax on a chunk) over the same chunks,
    the three arms alternating in a rotating order, each keeping its best time."""
    texts = [t for chunk in chunks for t in chunk]
    ids = [f"id:{i}" for i in range(len(texts))]
    before = editor.chunk_docs, editor.overlap
    editor.chunk_docs = size = max(len(c) for c in chunks)
    arms = ("overlapped", "serial", "floor")
    best = dict.fromkeys(arms, np.inf)
    outputs = {}
    try:
        for rep in range(max(repeats, 1)):
            for arm in arms[rep % 3:] + arms[:rep % 3]:
                t0 = time.perf_counter()
                if arm == "floor":
                    seconds = sum(floor(chunk) for chunk in chunks)
                else:
                    editor.overlap = "on" if arm == "overlapped" else "off"
                    outputs[arm] = [r.text for r in editor.edit_texts(texts, ids=ids, seed=0)]
                    seconds = time.perf_counter() - t0
                best[arm] = min(best[arm], seconds)
    finally:
        editor.chunk_docs, editor.overlap = before
    rate = {arm: tokens / seconds for arm, seconds in best.items()}
    same = outputs["overlapped"] == outputs["serial"]
    print(f"(b') engine, {len(chunks)} chunks of {size} documents in one call, best of {max(repeats, 1)}: "
          f"overlapped (--overlap on) {rate['overlapped']:,.0f} tokens/s, serial (--overlap off) "
          f"{rate['serial']:,.0f} tokens/s: overlapped/serial = {rate['overlapped'] / rate['serial']:.3f}; "
          f"same texts: {same}; forward + log-softmax in the same rounds {rate['floor']:,.0f} tokens/s")
    if not same:
        raise AssertionError("the overlapped and the serial path edited differently")
    return rate


def against_the_field(rate_engine: float, rate_floor: float, device: str) -> None:
    """The engine's tokens/s on one device beside forward + log-softmax and FineWeb-Edu's classifier."""
    ref = fineweb_edu_rate()
    print(f"one {device}: engine {rate_engine:,.0f} tokens/s = {rate_engine / rate_floor:.3f} of forward + "
          f"log-softmax ({rate_floor:,.0f}); FineWeb-Edu's ~100M classifier: {FINEWEB_EDU_TOKENS / 1e12:g}T tokens "
          f"/ ({FINEWEB_EDU_H100_HOURS:,} H100-hours x 3600 s) = {ref:,.0f} tokens/s per H100: engine/reference "
          f"= {rate_engine / ref:.3f}")
