"""The editor: a prior, a tokenizer and one :class:`EditConfig`."""

from __future__ import annotations

import dataclasses
import logging
from typing import Sequence

import numpy as np
import torch

from .prior import load_causal_lm
from . import overlap, rebuild, samplers
from .config import EditConfig
from .keys import _check_texts, document_seed, text_key  # noqa: F401 (also imported from here)
from .results import EditResult, EditStats, IterationResult, join_results
from .scoring import Document, KeptLogits, Layout, forward_batches, segments, token_probabilities


log = logging.getLogger(__name__)


class PriorLoadError(RuntimeError):
    """The prior model or its tokenizer could not be loaded, or they do not fit together."""


def load_prior(model_name_or_path, device: str | None = None, dtype: str | torch.dtype | None = None):
    """Load a causal LM and its fast tokenizer (local folder or hub id); ``(model, tokenizer)``.

    PriorLoadError if either cannot be loaded, or the tokenizer is missing or does not fit
    the model (see :func:`check_prior`)."""
    try:
        model, tokenizer = load_causal_lm(model_name_or_path, device=device, dtype=dtype)
    except OSError as err:
        raise PriorLoadError(f"cannot load the prior: {err}") from err
    check_prior(model, tokenizer, model_name_or_path)
    return model, tokenizer


def check_prior(model, tokenizer, where="the prior") -> None:
    """Refuse a tokenizer that tokenizes nothing (a model folder without tokenizer files
    loads as an empty tokenizer) or that has ids the model's vocabulary lacks. (A model
    vocabulary larger than the tokenizer's is normal: embeddings are often padded.)"""
    probe = "The quick brown fox jumps over the lazy dog."
    ids = tokenizer(probe, add_special_tokens=False)["input_ids"]
    unk = getattr(tokenizer, "unk_token_id", None)
    if not ids or (unk is not None and all(i == unk for i in ids)):
        raise PriorLoadError(f"cannot load the prior: {where} has no usable tokenizer (its tokenizer files "
                             f"are missing or empty: a sentence becomes {len(ids)} known tokens)")
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    model_vocab = getattr(embeddings, "num_embeddings", None) or getattr(model.config, "vocab_size", None)
    if model_vocab is not None and len(tokenizer) > model_vocab:
        raise PriorLoadError(f"cannot load the prior: the tokenizer of {where} has {len(tokenizer)} tokens but "
                             f"the model's vocabulary has {model_vocab}: they do not belong together")


class ToEditor:
    """Token-level editing with a prior causal LM. See the package docstring for the rules.

    Options are an :class:`EditConfig` (or its fields as keywords); each is also an
    attribute (``editor.threshold = 0.9`` validates and replaces ``editor.options``).

    >>> editor = ToEditor.from_pretrained("runs/default/01_corpora/teacher")   # doctest: +SKIP
    >>> results = editor.edit_texts(["Some text ..."], seed=0)                   # doctest: +SKIP
    >>> results[0].text, results[0].flagged                                       # doctest: +SKIP
    """

    segment_chars = 1 << 17  # a longer document is edited a segment at a time (memory; see _edit_long)

    def __init__(self, model, tokenizer, config: EditConfig | None = None, **options):
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("ToEdit needs a fast tokenizer (offset mappings keep untouched text byte-exact)")
        self.options = dataclasses.replace(config, **options) if config is not None else EditConfig(**options)
        self.model, self.tokenizer = model, tokenizer
        self.logits = KeptLogits(model)  # logits at the kept positions; .seconds: time in the model
        self.device = self.logits.device
        cfg = model.config
        model_ctx = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 1024
        max_length = self.options.max_length
        self.context = int(min(max_length, model_ctx) if max_length else model_ctx)
        self.stride = int(self.options.stride or max(self.context // 2, 1))
        if self.context > 1 and not 1 <= self.stride <= self.context - 1:
            raise ValueError(f"stride must be in [1, {self.context - 1}], got {self.stride}")
        self._special = np.asarray(sorted(set(tokenizer.all_special_ids)), dtype=np.int64)
        self._is_special = np.zeros(max(len(tokenizer), int(self._special.max(initial=-1)) + 1), dtype=bool)
        self._is_special[self._special] = True  # a lookup table: cheaper than np.isin per document
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._fdtype = torch.float32 if self.device.type == "mps" else torch.float64  # MPS has no float64
        self._told: set = set()  # the batch cuts already reported

    @classmethod
    def from_pretrained(cls, model_name_or_path, device: str | None = None, dtype=None,
                        config: EditConfig | None = None, **options) -> "ToEditor":
        model, tokenizer = load_prior(model_name_or_path, device=device, dtype=dtype)
        return cls(model, tokenizer, config, **options)

    @property
    def forward_seconds(self) -> float:
        """Time spent in model calls (for benchmarks)."""
        return self.logits.seconds

    @forward_seconds.setter
    def forward_seconds(self, value: float) -> None:
        self.logits.seconds = value

    def config(self) -> dict:
        """The options as a dict, with the context and stride actually used."""
        return {**dataclasses.asdict(self.options), "context": self.context, "stride": self.stride,
                "comparisons": "resample if P >= threshold; drop if P < low_threshold"}

    # ---------------------------------------------------------------- public API

    def edit_texts(self, texts: Sequence[str], ids: Sequence | None = None, *, seed: int = 0,
                   generation: int = 1, return_probs: bool = False, progress: bool = False) -> list[EditResult]:
        """Edit plain texts. ``ids`` name the documents (their random streams); without
        them a document is named by the hash of its text. ``return_probs`` also returns
        each token's probability, the flagged positions and the ids drawn there."""
        texts = _check_texts(texts)
        if ids is not None and len(ids) != len(texts):
            raise ValueError("ids and texts differ in length")
        keys = [text_key(t) if ids is None or ids[i] is None else f"id:{ids[i]}" for i, t in enumerate(texts)]
        return self._edit_fields(texts, keys, seed=seed, generation=generation,
                                 return_probs=return_probs, progress=progress)

    def edit_records(self, records: Sequence[dict], *, text_field: str = "text", id_field: str | None = "id",
                     prompt_field: str | None = None, condition_on_prompt: bool = False, seed: int = 0,
                     generation: int = 1, stats_field: str | None = None) -> tuple[list[dict], list[EditResult]]:
        """Edit ``record[text_field]`` of each record; everything else is copied.

        Instruction data: give ``prompt_field``; the prompt is kept as is. With
        ``condition_on_prompt`` the response is scored after the prompt's tokens;
        otherwise (as the official SFT script does) the response is scored alone.
        """
        [(_, out, results)] = self.edit_record_chunks(
            [(None, records)], text_field=text_field, id_field=id_field, prompt_field=prompt_field,
            condition_on_prompt=condition_on_prompt, seed=seed, generation=generation, stats_field=stats_field)
        return out, results

    def edit_record_chunks(self, chunks, *, text_field: str = "text", id_field: str | None = "id",
                           prompt_field: str | None = None, condition_on_prompt: bool = False, seed: int = 0,
                           generation: int = 1, stats_field: str | None = None):
        """:meth:`edit_records` of each ``(tag, records)`` of ``chunks`` (read one chunk ahead),
        yielded as ``(tag, edited records, results)`` in order, through one pipeline (see
        :meth:`edit_chunks`); a chunk longer than ``chunk_docs`` is cut into several."""
        def jobs():
            for tag, records in chunks:
                if isinstance(records, dict):
                    raise TypeError("records must be a sequence of dicts, not a single dict")
                records = list(records)
                texts = _check_texts([rec[text_field] for rec in records], f"records[...][{text_field!r}]")
                prompts = (_check_texts([rec[prompt_field] for rec in records], f"records[...][{prompt_field!r}]")
                           if prompt_field else [None] * len(records))
                keys = []
                for rec, text, prompt in zip(records, texts, prompts):
                    rid = rec.get(id_field) if id_field else None
                    keys.append(f"id:{rid}" if rid is not None else text_key(text, prompt))
                prompts = prompts if (prompt_field and condition_on_prompt) else None
                los = range(0, max(len(texts), 1), self.chunk_docs)
                for lo in los:
                    hi = lo + self.chunk_docs
                    yield ((tag, records, lo == los[-1]), texts[lo:hi], keys[lo:hi],
                           prompts[lo:hi] if prompts else None)

        done = []
        for (tag, records, last), results in self.edit_chunks(jobs(), seed=seed, generation=generation):
            done.extend(results)
            if last:
                out = []
                for rec, res in zip(records, done):
                    new = dict(rec)
                    new[text_field] = res.text
                    if stats_field:
                        new[stats_field] = res.stats()
                    out.append(new)
                yield tag, out, done
                done = []

    def edit_dataset(self, dataset, text_field: str = "text", *, id_field: str | None = "id",
                     prompt_field: str | None = None, condition_on_prompt: bool = False, seed: int = 0,
                     generation: int = 1, stats_field: str | None = "toedit", map_batch_size: int = 256, **map_kwargs):
        """Edit a ``datasets.Dataset`` with a batched ``map``; per-row statistics go to
        ``stats_field`` (None: none)."""
        id_field = id_field if id_field in dataset.column_names else None

        def fn(batch):
            n = len(batch[text_field])
            records = [{key: batch[key][i] for key in batch} for i in range(n)]
            edited, _ = self.edit_records(records, text_field=text_field, id_field=id_field,
                                          prompt_field=prompt_field, condition_on_prompt=condition_on_prompt,
                                          seed=seed, generation=generation, stats_field=stats_field)
            return {key: [r[key] for r in edited] for key in edited[0]} if edited else batch

        return dataset.map(fn, batched=True, batch_size=map_batch_size, **map_kwargs)

    def iterate(self, texts: Sequence[str], generations: int = 3, ids: Sequence | None = None, *,
                seed: int = 0) -> IterationResult:
        """Edit, then re-edit the output, ``generations`` times with the same prior.

        A document keeps its identity (its id, else the hash of the *source* text) across
        generations; each generation has its own random stream.
        """
        texts = _check_texts(texts)
        ids = list(ids) if ids is not None else [text_key(t) for t in texts]
        history, all_stats = [texts], []
        for gen in range(1, generations + 1):
            results = self.edit_texts(history[-1], ids=ids, seed=seed, generation=gen)
            history.append([r.text for r in results])
            all_stats.append(EditStats(fine_bins=self.fine_bins).update(results))
        return IterationResult(texts=history, stats=all_stats)

    def score_texts(self, texts: Sequence[str]) -> list[np.ndarray]:
        """P(x_i | x_<i) for every token of each text (NaN where not scored)."""
        results = self.edit_texts(texts, return_probs=True)
        return [r.probs for r in results]

    # ---------------------------------------------------------------- the steps, public for benchmarks

    def prepare(self, texts: Sequence[str], keys: Sequence[str], prompts: Sequence[str] | None = None, *,
                seed: int = 0, generation: int = 1) -> list[Document]:
        """Tokenize (the fast tokenizer's backend directly: only edited documents need
        their offsets as Python objects) and mark the editable positions."""
        encs = self._encode(texts, add_special_tokens=prompts is None)
        pencs = self._encode(prompts, add_special_tokens=True) if prompts is not None else None
        docs = []
        for i, text in enumerate(texts):
            enc = encs[i]
            ids = np.array(enc.ids, dtype=np.int64)
            added = np.array(enc.special_tokens_mask, dtype=bool)
            if prompts is not None:
                prefix = np.array(pencs[i].ids, dtype=np.int64)
                full, start = np.concatenate([prefix, ids]), len(prefix)
            else:
                full, start = ids, 0
            editable = ~self._is_special[full]
            editable[:max(start, 1)] = False
            docs.append(Document(full, editable, start, enc, added, text, keys[i],
                                 document_seed(seed, generation, keys[i])))
        return docs

    def batches(self, docs: list[Document], layout: Layout):
        """The forward batches of :func:`scoring.forward_batches` with this editor's windows."""
        return forward_batches(docs, layout, context=self.context, stride=self.stride,
                               batch_size=self.forward_batch_size(), pad_id=self._pad_id)

    def forward_batch_size(self) -> int:
        """``batch_size``, cut so that a batch's logits (batch x window x vocabulary x 4
        bytes) fit ``max_logits_gib``; says so, once per setting, when it cuts."""
        vocab = getattr(self.model.config, "vocab_size", None) or len(self.tokenizer)
        budget = self.max_logits_gib
        if budget is None:
            budget = (torch.cuda.get_device_properties(self.device).total_memory / 4 / 2**30
                      if self.device.type == "cuda" else 2.0)
        per_window = self.context * vocab * 4
        fits = max(1, int(budget * 2**30 // per_window))
        if fits < self.batch_size and (self.batch_size, budget) not in self._told:
            self._told.add((self.batch_size, budget))
            log.warning("toedit: a batch of %d windows of %d tokens over a %d-token vocabulary holds %.1f GiB of "
                        "logits; editing %d window(s) per forward pass to stay within %.1f GiB "
                        "(--max-logits-gib; --max-length shortens the windows)", self.batch_size, self.context,
                        vocab, self.batch_size * per_window / 2**30, fits, budget)
        return min(self.batch_size, fits)

    def _encode(self, texts, add_special_tokens: bool):
        backend = self.tokenizer.backend_tokenizer
        if backend.truncation is not None:
            backend.no_truncation()
        if backend.padding is not None:
            backend.no_padding()
        return backend.encode_batch(list(texts), add_special_tokens=add_special_tokens)

    # ---------------------------------------------------------------- the engine

    def _edit_fields(self, texts, keys, prompts=None, *, seed=0, generation=1, return_probs=False, progress=False):
        step = self.chunk_docs
        jobs = ((None, texts[lo:lo + step], keys[lo:lo + step], prompts[lo:lo + step] if prompts else None)
                for lo in range(0, len(texts), step))
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(texts), unit="doc")
        results = []
        for _, part in self.edit_chunks(jobs, seed=seed, generation=generation, return_probs=return_probs):
            results.extend(part)
            if bar is not None:
                bar.update(len(part))
        if bar is not None:
            bar.close()
        return results

    def edit_chunks(self, jobs, *, seed=0, generation=1, return_probs=False):
        """``(tag, results)`` of each ``(tag, texts, keys, prompts or None)`` job, in order,
        through :func:`overlap.pipeline`: the next job is tokenized and the last one's texts
        rebuilt while this one's forward pass runs (``overlap``: "off" one after the other; the
        same bytes either way). ``jobs`` may be a generator: it is read one job ahead."""
        def prepare(job):
            tag, texts, keys, prompts = job
            short = [i for i in range(len(texts)) if len(texts[i]) <= self.segment_chars]
            docs = self.prepare([texts[i] for i in short], [keys[i] for i in short],
                                [prompts[i] for i in short] if prompts else None, seed=seed, generation=generation)
            return job, short, docs

        def score(prepared):
            return self._score_docs(prepared[2], return_probs) if prepared[2] else None

        def collect(prepared, scored):
            (tag, texts, keys, prompts), short, docs = prepared
            edited = dict(zip(short, self._collect(docs, *scored, return_probs))) if docs else {}
            return tag, [edited[i] if i in edited else self._edit_long(  # a long document: a segment at a time
                texts[i], keys[i], prompts[i] if prompts else None, seed, generation, return_probs)
                for i in range(len(texts))]

        on = self.overlap == "on" or (self.overlap == "auto" and self.device.type != "cpu")
        return overlap.pipeline(jobs, prepare, score, collect, overlap=on)

    def _edit_long(self, text, key, prompt, seed, generation, return_probs) -> EditResult:
        """A document longer than ``segment_chars``, edited one segment at a time, so that
        memory holds one segment's tokens and windows, never the whole document's. Each
        segment is scored after the last ``context - 1`` tokens before it (the prompt's,
        for the first) and draws from its own random stream; untouched text is still
        copied byte for byte."""
        parts, before = [], None
        for j, (a, b) in enumerate(segments(text, self.segment_chars)):
            part_key = key if j == 0 else f"{key}\0segment {j}"
            if before is None:
                doc = self.prepare([text[a:b]], [part_key], None if prompt is None else [prompt],
                                   seed=seed, generation=generation)[0]
            else:  # the same document goes on: no special tokens added at the cut
                enc = self._encode([text[a:b]], add_special_tokens=False)[0]
                ids = np.concatenate([before, np.array(enc.ids, dtype=np.int64)])
                editable = ~self._is_special[ids]
                editable[:len(before)] = False
                doc = Document(ids, editable, len(before), enc, np.array(enc.special_tokens_mask, dtype=bool),
                               text[a:b], part_key, document_seed(seed, generation, part_key))
            before = doc.ids[max(len(doc.ids) - (self.context - 1), 0):]
            parts.append(self._edit_docs([doc], return_probs)[0])
        return join_results(parts, key)

    def _edit_docs(self, docs: list[Document], return_probs: bool) -> list[EditResult]:
        return self._collect(docs, *self._score_docs(docs, return_probs), return_probs)

    @torch.inference_mode()
    def _score_docs(self, docs: list[Document], return_probs: bool) -> tuple[np.ndarray, dict]:
        """The forward passes of a chunk: ``(starts, state)``, the per-position state on the CPU."""
        dev = self.device
        layout = Layout.of(docs)
        total = int(layout.starts[-1])
        # one random stream per document, drawn on the CPU: independent of batching and device
        uniforms = [torch.rand(len(d.ids), generator=torch.Generator().manual_seed(d.seed), dtype=torch.float64)
                    for d in docs]
        uniforms = torch.cat(uniforms) if total else torch.zeros(0, dtype=torch.float64)

        state = self._new_state(layout, uniforms.to(dev, self._fdtype), return_probs)
        for inp, att, keep, gidx in self.batches(docs, layout):
            logits = self.logits(inp.to(dev), att.to(dev), keep.to(dev))
            self._flag_and_sample(logits, gidx.to(dev), state)
        return layout.starts, {k: v.cpu().numpy() for k, v in state.items() if v is not None}

    def _new_state(self, layout: Layout, uniforms: torch.Tensor, return_probs: bool) -> dict:
        """The per-position state of one chunk, on the device, before any scoring."""
        dev, total, n_docs = self.device, int(layout.starts[-1]), len(layout.starts) - 1
        state = {
            "ids": layout.ids.to(dev), "u": uniforms,
            "doc": torch.from_numpy(np.repeat(np.arange(n_docs), np.diff(layout.starts))).to(dev),
            "hist10": torch.zeros(n_docs * 10, dtype=torch.int64, device=dev),
            "hist_fine": torch.zeros(n_docs * self.fine_bins, dtype=torch.int64, device=dev),
            "flagged": torch.zeros(total, dtype=torch.bool, device=dev),
            "dropped": torch.zeros(total, dtype=torch.bool, device=dev),
            "probs": torch.full((total,), float("nan"), dtype=torch.float32, device=dev) if return_probs else None,
        }
        state["new_ids"] = state["ids"].clone()
        return state

    def _flag_and_sample(self, logits, gidx, s) -> None:
        """Everything after the forward pass, vectorized over all scored positions."""
        target = s["ids"][gidx]
        p = token_probabilities(logits, target)
        high = self._record(p, gidx, s)
        if high is not None and bool(high.any()):
            rows = gidx[high]
            s["new_ids"][rows] = samplers.sample(
                logits[high], s["u"][rows], target[high], self.options, special_ids=self._special,
                vocab_size=len(self.tokenizer), dtype=self._fdtype)

    def _record(self, p, gidx, s):
        """Histograms, probabilities, drops and flags of the scored positions ``gidx`` with
        probabilities ``p``; returns the mask of ``p`` to resample (None: the strategy does not
        resample). Shared by the forward pass and :func:`stored.apply`."""
        if s["probs"] is not None:
            s["probs"][gidx] = p
        doc = s["doc"][gidx]
        s["hist10"] += torch.bincount(doc * 10 + (p * 10).long().clamp_(max=9), minlength=s["hist10"].numel())
        fb = self.fine_bins
        s["hist_fine"] += torch.bincount(doc * fb + (p * fb).long().clamp_(max=fb - 1),
                                         minlength=s["hist_fine"].numel())
        if self.options.drops:
            s["dropped"][gidx[p < self.low_threshold]] = True
        if not self.options.resamples:
            return None
        high = p >= self.threshold
        s["flagged"][gidx[high]] = True
        return high

    def _collect(self, docs, starts, s, return_probs) -> list[EditResult]:
        results, plans, requests = [], [], []
        n_docs = len(docs)
        hist10, hist_fine = s["hist10"].reshape(n_docs, 10), s["hist_fine"].reshape(n_docs, self.fine_bins)
        for i, d in enumerate(docs):
            a, b = int(starts[i]) + d.field_start, int(starts[i + 1])
            orig = d.ids[d.field_start:]
            new, fl, dr = s["new_ids"][a:b], s["flagged"][a:b], s["dropped"][a:b]
            changed = fl & (new != orig)
            touched = changed | dr
            plans.append(rebuild.plan_rebuild(d, new, touched, dr, requests) if touched.any() else None)
            flagged_at = np.flatnonzero(fl)
            results.append(EditResult(
                text=d.text, key=d.key, tokens=int((~d.added).sum()), scored=int(d.editable[d.field_start:].sum()),
                flagged=int(fl.sum()), changed=int(changed.sum()), dropped=int(dr.sum()),
                interval_counts=hist10[i].astype(np.int64), fine_counts=hist_fine[i].astype(np.int64),
                probs=s["probs"][a:b].copy() if return_probs else None,
                flagged_positions=flagged_at if return_probs else None,
                drawn_ids=new[flagged_at].copy() if return_probs else None,
                dropped_positions=np.flatnonzero(dr) if return_probs else None))
        texts = rebuild.assemble(plans, rebuild.decode_pieces(self.tokenizer, requests))
        for result, text in zip(results, texts):
            if text is not None:
                result.text = text
        return results


def _option_property(name: str) -> property:
    def get(self):
        return getattr(self.options, name)

    def set_(self, value):
        self.options = dataclasses.replace(self.options, **{name: value})

    return property(get, set_, doc=f"``options.{name}`` (setting it validates)")


for _name in EditConfig.field_names():
    if _name not in ("max_length", "stride"):  # fixed at construction: they set the windows
        setattr(ToEditor, _name, _option_property(_name))
