"""Small zero-shot downstream tasks built from held-out human text, scored with EleutherAI lm-eval.

The paper scores its students on general-understanding tasks through lm-evaluation-harness
(Tables 9, 11). Those benchmarks need the Hub; ours are built offline from the **test split**
of the human corpus, so no student has seen their text:

- ``tokedit_continuation``: a passage of ``context_words`` words and four candidate
  continuations of ``continuation_words`` words. One is the passage's true next words; the
  others are continuations of passages from *other documents of the same domain*, so the
  choice tests coherence, not the domain's surface style.
- ``tokedit_wordnet_gloss``: a WordNet entry's lemmas and part of speech ("fiber, fibre
  (noun):") and four glosses: its own and the glosses of other entries with the same part of
  speech. This needs WordNet lines in the test split (the embedded corpus's ``reference``
  domain has them); with none the task is skipped.

Both builders are deterministic: inputs are sorted and every random choice comes from a
``random.Random`` seeded with a string (string seeds are hashed with SHA-512, so they do not
depend on ``PYTHONHASHSEED``).

**YAML files.** The task definitions are lm-eval's own YAML format and are committed as
templates in ``tokedit_utils/toolkit/lm_eval_tasks/``. Only the data file differs between runs, so
:func:`write_task_yamls` copies each template beside its JSONL file and fills in
``dataset_kwargs.data_files.test`` with the JSONL's path **relative to the task folder**, so
the folder still works after the runner renames the stage into place, or anywhere it is
copied. :func:`evaluate` resolves those paths; from the command line, run lm-eval inside the
task folder::

    cd runs/<profile>/02_collapse/lm_eval_tasks
    lm_eval --model hf --model_args pretrained=../students/<student>,dtype=float32 --device cpu \\
        --include_path . --tasks tokedit_continuation

:func:`evaluate` runs ``lm_eval.simple_evaluate`` with ``model="hf"`` on a student saved with
``save_pretrained`` and returns ``acc`` and ``acc_stderr`` per task. It works offline: the
data are local JSON Lines read with ``datasets``' ``json`` builder.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import re
import tempfile
from pathlib import Path
from typing import Sequence

import yaml

from ..toedit.records import write_records

TEMPLATES_DIR = Path(__file__).resolve().parent / "lm_eval_tasks"
CONTINUATION = "tokedit_continuation"
GLOSS = "tokedit_wordnet_gloss"
TASKS = (CONTINUATION, GLOSS)

_WORD = re.compile(r"\S+")
_WORDNET_LINE = re.compile(r"^(?P<lemmas>[^():]+?) \((?P<pos>noun|verb|adj|adv)\): (?P<gloss>.+)$")


def _records(docs) -> list[dict]:
    """``[{"id", "domain", "source", "text"}]`` sorted by id, from a Dataset or a list of dicts."""
    if hasattr(docs, "column_names"):
        cols = {c: docs[c] for c in ("id", "domain", "source", "text") if c in docs.column_names}
        docs = [dict(zip(cols, values)) for values in zip(*cols.values())]
    return sorted(docs, key=lambda r: r["id"])


def _quotas(n_items: int, groups: Sequence[str]) -> dict[str, int]:
    """``n_items`` dealt as evenly as possible over the sorted groups."""
    base, extra = divmod(n_items, len(groups))
    return {g: base + (i < extra) for i, g in enumerate(sorted(groups))}


# --------------------------------------------------------------------------- continuation


def passages(text: str, context_words: int, continuation_words: int) -> list[tuple[str, str]]:
    """Non-overlapping (context, continuation) pairs of a document, whitespace kept inside each."""
    spans = [m.span() for m in _WORD.finditer(text)]
    size = context_words + continuation_words
    out = []
    for start in range(0, len(spans) - size + 1, size):
        ctx = text[spans[start][0] : spans[start + context_words - 1][1]]
        cont = text[spans[start + context_words][0] : spans[start + size - 1][1]]
        out.append((ctx, cont))
    return out


def build_continuation_items(
    docs, n_items: int, n_choices: int = 4, context_words: int = 32, continuation_words: int = 16, seed: int = 0,
    fits=None,
) -> list[dict]:
    """Multiple-choice items: a passage's true continuation among continuations from other
    documents of the same domain.

    Items are dealt evenly over the domains (a domain with too few passages gives what it has);
    a domain needs at least ``n_choices`` documents. ``fits(text) -> bool``, when given, drops
    passages whose continuation is too long for the model (see :func:`token_limit`). Each item is
    ``{"id", "domain", "doc_id", "context", "choices", "label", "distractor_doc_ids"}``.
    """
    by_domain: dict[str, list[tuple[str, str, str]]] = {}
    for rec in _records(docs):
        for ctx, cont in passages(rec["text"], context_words, continuation_words):
            if fits is not None and not fits(cont):
                continue
            by_domain.setdefault(rec["domain"], []).append((rec["id"], ctx, cont))
    usable = {d: p for d, p in by_domain.items() if len({doc for doc, _, _ in p}) >= n_choices}
    if not usable:
        return []
    items = []
    for domain, quota in _quotas(n_items, list(usable)).items():
        pool = usable[domain]
        rng = random.Random(f"continuation/{seed}/{domain}")
        order = list(range(len(pool)))
        rng.shuffle(order)
        seen_contexts = set()
        for i in order:
            if len(seen_contexts) >= quota:  # one item per context taken
                break
            doc_id, ctx, cont = pool[i]
            if ctx in seen_contexts:
                continue
            # Distractors: continuations of passages of other documents, one per document.
            others: dict[str, str] = {}
            for j in rng.sample(range(len(pool)), len(pool)):
                other_doc, _, other_cont = pool[j]
                if other_doc != doc_id and other_doc not in others and other_cont != cont and other_cont not in others.values():
                    others[other_doc] = other_cont
                    if len(others) == n_choices - 1:
                        break
            if len(others) < n_choices - 1:
                continue
            seen_contexts.add(ctx)
            choices = list(others.values())
            label = rng.randrange(n_choices)
            choices.insert(label, cont)
            items.append({
                "id": f"{domain}-{len(seen_contexts):04d}", "domain": domain, "doc_id": doc_id,
                "context": ctx, "choices": choices, "label": label, "distractor_doc_ids": list(others),
            })
    return items


# --------------------------------------------------------------------------- WordNet glosses


def wordnet_entries(docs) -> list[dict]:
    """Entries ``{"lemmas", "pos", "gloss", "doc_id"}`` of the WordNet documents (source ``wordnet``).

    A document's last line may be cut at the document boundary, so it is dropped; the usage
    examples after the gloss (``; "..."``) are dropped too.
    """
    entries = []
    for rec in _records(docs):
        if rec.get("source") != "wordnet":
            continue
        lines = rec["text"].split("\n")
        for line in lines[:-1] if len(lines) > 1 else lines:
            m = _WORDNET_LINE.match(line.strip())
            if not m:
                continue
            gloss = m["gloss"].split('; "')[0].strip()
            if gloss:
                entries.append({"lemmas": m["lemmas"].strip(), "pos": m["pos"], "gloss": gloss, "doc_id": rec["id"]})
    return entries


def build_gloss_items(docs, n_items: int, n_choices: int = 4, seed: int = 0, fits=None) -> list[dict]:
    """Multiple-choice items: a WordNet entry's lemmas and part of speech, and its gloss among
    the glosses of other entries with the same part of speech.

    One item per distinct lemma list (the first sense in corpus order). Each item is
    ``{"id", "pos", "doc_id", "context", "choices", "label"}``, the context written as in the
    corpus, e.g. ``"fiber, fibre (noun):"``. ``fits(text) -> bool``, when given, drops entries
    whose gloss is too long for the model.
    """
    entries, seen = [], set()
    for e in wordnet_entries(docs):
        if fits is not None and not fits(e["gloss"]):
            continue
        if e["lemmas"] not in seen:
            seen.add(e["lemmas"])
            entries.append(e)
    rng = random.Random(f"gloss/{seed}")
    order = list(range(len(entries)))
    rng.shuffle(order)
    by_pos: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        by_pos.setdefault(e["pos"], []).append(i)
    items = []
    for i in order:
        if len(items) >= n_items:
            break
        e = entries[i]
        heads = {h.strip().lower() for h in e["lemmas"].split(",")}
        distractors: list[str] = []
        for j in rng.sample(by_pos[e["pos"]], len(by_pos[e["pos"]])):
            other = entries[j]
            if j == i or other["gloss"] == e["gloss"] or other["gloss"] in distractors:
                continue
            if heads & {h.strip().lower() for h in other["lemmas"].split(",")}:
                continue  # another sense of the same word would be a second right answer
            distractors.append(other["gloss"])
            if len(distractors) == n_choices - 1:
                break
        if len(distractors) < n_choices - 1:
            continue
        label = rng.randrange(n_choices)
        choices = distractors[:]
        choices.insert(label, e["gloss"])
        items.append({"id": f"gloss-{len(items):04d}", "pos": e["pos"], "doc_id": e["doc_id"],
                      "context": f"{e['lemmas']} ({e['pos']}):", "choices": choices, "label": label})
    return items


# --------------------------------------------------------------------------- files and lm-eval


def write_task_yamls(task_dir: str | Path, data_files: dict[str, str | Path]) -> Path:
    """Copy the templates of the named tasks into ``task_dir``, each pointing at its JSONL file
    by a path relative to ``task_dir``."""
    task_dir = Path(task_dir)
    task_dir.mkdir(parents=True, exist_ok=True)
    for task, data_file in data_files.items():
        config = yaml.safe_load((TEMPLATES_DIR / f"{task}.yaml").read_text())
        relative = os.path.relpath(Path(data_file).resolve(), task_dir.resolve())
        config["dataset_kwargs"] = {"data_files": {"test": relative}}
        header = f"# Written by tokedit_utils.toolkit.tasks.write_task_yamls from tokedit_utils/toolkit/lm_eval_tasks/{task}.yaml\n"
        (task_dir / f"{task}.yaml").write_text(header + yaml.safe_dump(config, sort_keys=False))
    return task_dir


def token_limit(tokenizer, max_tokens: int):
    """``fits(text)``: whether ``" " + text`` is at most ``max_tokens`` tokens.

    lm-eval scores an answer choice only if it fits the model's context whole (it truncates the
    question from the left, never the answer), so choices are kept to part of ``block_size``.
    """
    def fits(text: str) -> bool:
        return len(tokenizer(" " + text, add_special_tokens=False)["input_ids"]) <= max_tokens
    return fits


def build_task_files(
    task_dir: str | Path, test_docs, n_items: int, n_choices: int = 4, context_words: int = 32,
    continuation_words: int = 16, seed: int = 0, tokenizer=None, max_choice_tokens: int | None = None,
) -> dict[str, int]:
    """Build both tasks from the test split, write their JSONL and YAML files; return item counts.

    With a ``tokenizer`` and ``max_choice_tokens``, answer choices longer than that are left out.
    A task with no items (no WordNet lines in the split, say) gets no files.
    """
    task_dir = Path(task_dir)
    fits = token_limit(tokenizer, max_choice_tokens) if tokenizer is not None and max_choice_tokens else None
    built = {
        CONTINUATION: build_continuation_items(test_docs, n_items, n_choices, context_words, continuation_words, seed, fits),
        GLOSS: build_gloss_items(test_docs, n_items, n_choices, seed, fits),
    }
    files = {task: task_dir / f"{task}.jsonl" for task, items in built.items() if items}
    for task, path in files.items():
        write_records(path, built[task])
    write_task_yamls(task_dir, files)
    return {task: len(items) for task, items in built.items()}


def evaluate(model_dir: str | Path, task_dir: str | Path, tasks: Sequence[str] | None = None,
             batch_size: int = 32, device: str = "cpu", limit: int | None = None, quiet: bool = True) -> dict[str, dict]:
    """Zero-shot accuracy of a saved causal LM on the tasks in ``task_dir``.

    Returns ``{task: {"acc", "acc_stderr", "acc_norm", "acc_norm_stderr", "acc_mi", "acc_mi_stderr",
    "n"}}``: the accuracy (the choice with the highest total log-likelihood; the paper reports
    this one), the accuracy with log-likelihoods divided by the choice's length in bytes, the
    accuracy by mutual information (log P(choice | question) - log P(choice), which removes
    how likely a choice is on its own), and lm-eval's standard errors of the mean. ``quiet``
    hides lm-eval's progress bars.
    """
    import lm_eval
    from lm_eval.tasks import TaskManager

    task_dir = Path(task_dir)
    if tasks is None:
        tasks = [t for t in TASKS if (task_dir / f"{t}.yaml").exists()]
    if not tasks:  # a corpus too small to build any task: nothing to score
        return {}
    for name in ("lm_eval", "lm-eval"):
        logging.getLogger(name).setLevel(logging.ERROR)
    folder = str(Path(model_dir).resolve())
    # lm-eval and transformers draw progress bars on stderr; in a notebook they would land in the book.
    quiet = contextlib.redirect_stderr(io.StringIO()) if quiet else contextlib.nullcontext()
    # The YAMLs name their data by paths relative to task_dir; lm-eval gets copies with the
    # paths resolved, in a folder of its own.
    with quiet, tempfile.TemporaryDirectory(prefix="tokedit-tasks-") as resolved:
        for task in tasks:
            config = yaml.safe_load((task_dir / f"{task}.yaml").read_text())
            files = config.get("dataset_kwargs", {}).get("data_files", {})
            for split, name in files.items():
                files[split] = str((task_dir / name).resolve())
            (Path(resolved) / f"{task}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        out = lm_eval.simple_evaluate(
            model="hf",
            model_args=f"pretrained={folder},tokenizer={folder},dtype=float32",
            tasks=list(tasks),
            task_manager=TaskManager(include_path=resolved, include_defaults=False),
            batch_size=batch_size,
            device=device,
            limit=limit,
            log_samples=False,
            verbosity="ERROR",
            bootstrap_iters=1000,  # acc is a mean: its stderr is closed-form, no bootstrap runs
        )
    scores = {}
    for task in tasks:
        row = out["results"][task]
        scores[task] = {"acc": float(row["acc,none"]), "acc_stderr": float(row["acc_stderr,none"]),
                        "acc_norm": float(row["acc_norm,none"]), "acc_norm_stderr": float(row["acc_norm_stderr,none"]),
                        "acc_mi": float(row["acc_mutual_info,none"]),
                        "acc_mi_stderr": float(row["acc_mutual_info_stderr,none"]),
                        "n": int(out["n-samples"][task]["effective"])}
    return scores

