"""Training causal LMs with the `transformers` Trainer.

The same code runs on a CPU, one GPU, or several GPUs under ``torchrun`` /
``accelerate launch`` (the Trainer handles the distribution). Text is tokenized, documents
are joined with the end-of-text token and cut into fixed blocks, GPT-2 style.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field

import datasets
import torch
from .progress import Bar  # text bars (stderr), reported to the runner; not in the built book
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments


def tokenize_and_chunk(ds: datasets.Dataset, tokenizer, block_size: int, text_field: str = "text") -> datasets.Dataset:
    """Token blocks of exactly ``block_size``: documents joined by EOS, the remainder dropped."""
    eos = tokenizer.eos_token_id

    def chunk(batch):
        stream: list[int] = []
        for ids in tokenizer(batch[text_field], add_special_tokens=False)["input_ids"]:
            stream.extend(ids)
            stream.append(eos)
        usable = len(stream) // block_size * block_size
        return {"input_ids": [stream[i : i + block_size] for i in range(0, usable, block_size)]}

    # One big batch keeps the tail of one document with the head of the next, as GPT-2 does.
    return ds.map(chunk, batched=True, batch_size=len(ds) or 1, remove_columns=ds.column_names)


def count_tokens(texts, tokenizer) -> int:
    return sum(len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"])


@dataclass
class TrainResult:
    loss_curve: list[dict] = field(default_factory=list)  # {"step", "tokens", "loss"}
    eval_curve: list[dict] = field(default_factory=list)  # {"step", "tokens", "epoch", "<name>_loss", ...}
    seconds: float = 0.0
    tokens_seen: int = 0

    @property
    def final_train_loss(self) -> float:
        return self.loss_curve[-1]["loss"] if self.loss_curve else math.nan


class _ProgressBar(TrainerCallback):
    """A plain progress bar with the running loss (the Trainer's own is disabled)."""

    def __init__(self, desc: str):
        self.desc, self.bar = desc, None

    def on_train_begin(self, args, state, control, **kwargs):
        self.bar = Bar(total=state.max_steps, desc=self.desc, unit="step", leave=False)

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.update(1)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{logs['loss']:.3f}")

    def on_train_end(self, args, state, control, **kwargs):
        self.bar.close()


def train_causal_lm(
    model,
    train_blocks: datasets.Dataset,
    *,
    output_dir: str | None = None,
    learning_rate: float = 3e-3,
    batch_size: int = 16,
    epochs: float = 1.0,
    warmup_ratio: float = 0.05,
    weight_decay: float = 0.1,
    seed: int = 0,
    log_every: int = 10,
    eval_blocks: dict[str, datasets.Dataset] | None = None,
    eval_every_epoch: bool = False,
    desc: str = "training",
    data_collator=None,
) -> TrainResult:
    """Train with AdamW (betas 0.9/0.95), linear warm-up then cosine decay, grad-norm clip 1.0.

    ``output_dir`` is the Trainer's scratch folder (a temporary one by default; nothing is
    checkpointed). Returns the training-loss curve (mean loss over each ``log_every`` steps) and, when
    ``eval_blocks`` is given, the eval loss of each named set after every epoch.
    ``data_collator`` replaces the default (equal blocks, labels = inputs), e.g. for padded
    instruction data whose prompt labels are -100.
    """
    scratch = tempfile.TemporaryDirectory(prefix="trainer-") if output_dir is None else None
    args = TrainingArguments(
        output_dir=output_dir or scratch.name,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=max(batch_size, 32),
        learning_rate=learning_rate,
        num_train_epochs=epochs,
        warmup_steps=warmup_ratio,
        lr_scheduler_type="cosine",
        weight_decay=weight_decay,
        adam_beta1=0.9,
        adam_beta2=0.95,
        max_grad_norm=1.0,
        logging_steps=log_every,
        eval_strategy="epoch" if (eval_blocks and eval_every_epoch) else "no",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_blocks,
        eval_dataset=eval_blocks,
        data_collator=data_collator or _stack_blocks,
        callbacks=[_ProgressBar(desc)],
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log dict when tqdm is off
    block = len(train_blocks[0]["input_ids"])
    tokens_per_step = batch_size * block * args.world_size
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    result = TrainResult(seconds=seconds, tokens_seen=trainer.state.global_step * tokens_per_step)
    for row in trainer.state.log_history:
        if "loss" in row:
            result.loss_curve.append({"step": row["step"], "tokens": row["step"] * tokens_per_step, "loss": row["loss"]})
        elif any(k.startswith("eval_") and k.endswith("_loss") for k in row):
            point = {"step": row["step"], "tokens": row["step"] * tokens_per_step, "epoch": row.get("epoch")}
            point.update({k[len("eval_"):]: v for k, v in row.items() if k.startswith("eval_") and k.endswith("_loss")})
            result.eval_curve.append(point)
    model.eval()
    if scratch is not None:
        scratch.cleanup()
    return result


def _stack_blocks(features):
    """Blocks have equal length, so no padding: labels are the inputs (the model shifts them)."""
    ids = torch.tensor([f["input_ids"] for f in features], dtype=torch.long)
    return {"input_ids": ids, "labels": ids.clone()}
