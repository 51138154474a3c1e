"""Chapter 1: the corpus tables, the samples shown, the mixtures written, the figures, and
the prose written from its ``results.json``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SPLITS = ["train", "validation", "test"]


def count_tokens(human, tokenizer):
    """``human`` with a ``tokens`` column: each document's token count, computed once."""
    def count(batch):
        ids = tokenizer(batch["text"], add_special_tokens=False)["input_ids"]
        return {"tokens": [len(i) for i in ids]}

    return human.map(count, batched=True, batch_size=256)


def corpus_stats(human) -> pd.DataFrame:
    """Documents, words and tokens per domain and split (one row each)."""
    frames = []
    for split, ds in human.items():
        frame = ds.select_columns(["domain", "text", "tokens"]).to_pandas()
        frames.append(frame.assign(split=split, words=frame.text.str.split().str.len()))
    return (
        pd.concat(frames)
        .groupby(["domain", "split"])
        .agg(documents=("text", "size"), words=("words", "sum"), tokens=("tokens", "sum"))
        .reset_index()
    )


def split_table(stats: pd.DataFrame) -> pd.DataFrame:
    """Documents and tokens per domain (rows) and split (columns), with an ``all`` row."""
    table = stats.pivot_table(
        index="domain", columns="split", values=["documents", "tokens"], aggfunc="sum"
    )
    table = table.reindex(columns=SPLITS, level=1)
    table.loc["all"] = table.sum()
    return table


def corpus_counts(stats: pd.DataFrame, domains, splits) -> dict:
    """``{domain: {split: {documents, words, tokens}}}`` for ``results.json``."""
    table = stats.set_index(["domain", "split"])
    return {
        d: {s: {k: int(v) for k, v in table.loc[(d, s)].items()}
            for s in splits if (d, s) in table.index}
        for d in domains
    }


def plot_corpus_tokens(stats: pd.DataFrame):
    """Tokens per domain, stacked by split."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    pivot = stats.pivot_table(
        index="domain", columns="split", values="tokens", aggfunc="sum"
    )[SPLITS]
    (pivot / 1e3).plot.barh(stacked=True, ax=ax)
    ax.set_xlabel("tokens (thousands)")
    ax.set_ylabel("")
    ax.set_title("The human corpus, by domain and split")
    return fig


def unigram_entropy(blocks, vocab_size: int) -> float:
    """The loss of a model that ignores context: the unigram entropy of the blocks (nats)."""
    counts = np.bincount(
        np.concatenate([np.array(b) for b in blocks["input_ids"]]), minlength=vocab_size
    )
    probs = counts[counts > 0] / counts.sum()
    return float(-(probs * np.log(probs)).sum())


def plot_teacher_loss(loss_curve: list[dict], entropy: float):
    """The teacher's training loss against tokens seen, the unigram entropy as reference."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(
        [p["tokens"] / 1e6 for p in loss_curve],
        [p["loss"] for p in loss_curve],
        label="teacher, training loss",
    )
    ax.axhline(entropy, color="grey", ls="--", label=f"unigram entropy ({entropy:.2f})")
    ax.set_xlabel("training tokens seen (millions)")
    ax.set_ylabel("cross-entropy (nats / token)")
    ax.set_title("Teacher training loss")
    ax.legend()
    return fig


def _opening(text: str, words: int = 60) -> str:
    return " ".join(text.split()[:words]) + " …"


def sample_pairs(validation, synthetic: list[dict], domains, temperature: float):
    """Up to three domains: a human validation opening beside a synthetic one (a Styler)."""
    val_text = dict(zip(validation["domain"], validation["text"]))
    synth_text = {r["domain"]: r["text"] for r in reversed(synthetic)}
    shown = [d for d in domains if d in val_text and d in synth_text]
    pairs = [
        {
            "domain": d,
            "human (validation)": _opening(val_text[d]),
            f"synthetic (T = {temperature:g})": _opening(synth_text[d]),
        }
        for d in shown[:: max(1, len(shown) // 3)][:3]
    ]
    return (
        pd.DataFrame(pairs)
        .style.hide(axis="index")
        .set_properties(
            **{"text-align": "left", "white-space": "pre-wrap", "vertical-align": "top"}
        )
    )


def write_mixtures(out_dir: Path, human_texts, synthetic, sweep, tokenizer, ratios,
                   tokens: int, seed: int) -> tuple[list[dict], list[str], dict]:
    """Write one mixture per synthetic ratio, and a pure-synthetic one per swept
    temperature, under ``out_dir/mixtures``. Returns the table rows, the mixture files and
    the sweep's files (by temperature), relative to ``out_dir``."""
    from ..toolkit import data, mixtures

    (out_dir / "mixtures").mkdir(exist_ok=True)
    rows, files, sweep_files = [], [], {}
    for ratio in ratios:
        records = mixtures.build_mixture(
            human_texts, [r["text"] for r in synthetic], tokenizer, ratio, tokens, seed=seed
        )
        files.append(f"mixtures/synthetic_{ratio:.2f}.jsonl.gz")
        data.write_jsonl_gz(out_dir / files[-1], records)
        rows.append({"mixture": f"{ratio:.0%} synthetic", "documents": len(records),
                     "human documents": sum(r["source"] == "human" for r in records)})
    for temp, corpus_t in sweep.items():
        records = mixtures.build_mixture(
            human_texts, [r["text"] for r in corpus_t], tokenizer, 1.0, tokens, seed=seed
        )
        sweep_files[f"{temp:g}"] = f"mixtures/synthetic_1.00_T{temp:g}.jsonl.gz"
        data.write_jsonl_gz(out_dir / sweep_files[f"{temp:g}"], records)
        rows.append({"mixture": f"100% synthetic, T = {temp:g}", "documents": len(records),
                     "human documents": 0})
    return rows, files, sweep_files


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
