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
