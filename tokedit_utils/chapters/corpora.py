"""Chapter 1's prose: the corpora and the teacher, written from its ``results.json``."""

from __future__ import annotations


def headline(results: dict) -> str:
    """Rounded headline numbers (the cell nbval compares in the smoke profile)."""
    t, s = results["teacher"], results["synthetic"]
    loss = f"{t['final_train_loss']:.3f}" if t["final_train_loss"] is not None else "n/a (given prior)"
    return "\n".join([
        f"vocabulary {results['tokenizer']['vocab_size']}, "
        f"{results['tokenizer']['bytes_per_token']:.2f} bytes per token",
        f"teacher: {t['parameters']:,} parameters, final training loss {loss}, "
        f"validation PPL {t['val_ppl_mean']:.1f}",
        f"synthetic: {s['documents']:,} documents, {s['tokens']:,} tokens at T = {s['temperature']:g}",
        f"mixtures: {len(results['mixtures']['files'])} of {results['mixtures']['tokens']:,} tokens, "
        f"{len(results['mixtures']['temperature_sweep'])} more at other temperatures",
    ])


def summary(results: dict) -> str:
    """The chapter's closing paragraph."""
    t, s, m = results["teacher"], results["synthetic"], results["mixtures"]
    docs = sum(split["documents"] for domain in results["corpus"].values() for split in domain.values())
    ppl = t["val_ppl"]
    loss = (f"reached a training loss of {t['final_train_loss']:.2f} nats per token after "
            f"{t['tokens_seen'] / 1e6:.2f}M tokens, against {t['unigram_entropy']:.2f} for a model that "
            f"ignores context, and " if t["final_train_loss"] is not None else "")
    sweep = (f" Pure-synthetic corpora at T = {', '.join(m['temperature_sweep'])} were sampled for the "
             "temperature sweep." if m["temperature_sweep"] else "")
    return (
        f"The human corpus has {docs:,} documents in {len(results['domains'])} domains, "
        f"{results['train_tokens']:,} training tokens under a {results['tokenizer']['vocab_size']:,}-token BPE. "
        f"The teacher ({t['parameters'] / 1e6:.2f}M parameters, {t['layers']} layers) {loss}"
        f"has a validation perplexity of {t['val_ppl_mean']:.1f} averaged over domains "
        f"(from {min(ppl.values()):.1f} on {min(ppl, key=ppl.get)} to {max(ppl.values()):.1f} on "
        f"{max(ppl, key=ppl.get)}). It sampled {s['documents']:,} synthetic documents "
        f"({s['tokens']:,} tokens) at temperature {s['temperature']:g} in {s['seconds']:.0f} s, and "
        f"{len(m['files'])} mixtures of {m['tokens']:,} tokens each are saved for chapter 2.{sweep}"
    )


def writer_mixtures(written: list[dict] | None, human_texts, tokenizer, ratios, budget: int, seed: int,
                    out_dir) -> dict[str, str]:
    """Mixtures of human text with the instruct-written corpus at each nonzero ratio, as the
    teacher's are built (same budget, same human documents for the same seed): ``{ratio:
    file relative to out_dir}``; none without a writer. The 0% mixture is the teacher's."""
    from ..toolkit import data, mixtures

    files = {}
    for ratio in ratios if written else ():
        if ratio > 0:
            records = mixtures.build_mixture(human_texts, [r["text"] for r in written], tokenizer, ratio, budget,
                                             seed=seed)
            files[f"{ratio:.2f}"] = f"mixtures/written_{ratio:.2f}.jsonl.gz"
            data.write_jsonl_gz(out_dir / files[f"{ratio:.2f}"], records)
    return files


def written_examples(written: list[dict] | None, n: int = 3, words: int = 60):
    """A few prompts and the openings of their answers, one per domain (None without a writer)."""
    import pandas as pd

    if not written:
        return None
    firsts = list({r["domain"]: r for r in written}.values())[:n]
    cut = lambda text: " ".join(text.split()[:words]) + " …"  # noqa: E731
    table = pd.DataFrame({"domain": [r["domain"] for r in firsts], "prompt": [r["prompt"] for r in firsts],
                          "answer (opening)": [cut(r["text"]) for r in firsts]})
    return table.style.hide(axis="index").set_properties(**{"text-align": "left", "white-space": "pre-wrap"})


def writer_results(writer: str | None, written: list[dict] | None, files: dict, seconds: float) -> dict:
    """The ``writer`` entry of chapter 1's results (nothing without a writer)."""
    if not writer:
        return {}
    return {"writer": {"model": writer, "documents": len(written), "tokens": sum(r["tokens"] for r in written),
                       "seconds": seconds, "mixtures": files}}
