"""LoRA training for one persona: unsloth QLoRA on CUDA, transformers + PEFT everywhere else.

Both paths share the data handling (chat template, loss on the assistant turn only), the
transformers `Trainer` loop, the progress callback (JSON lines: step, loss, learning rate,
epoch, ETA) and the output layout (`council.files.AdapterFiles`: PEFT adapter + metadata). Only the
model loading differs: unsloth loads the base in 4 bit and wraps it with its own LoRA layers;
the PEFT path loads it in full precision on whatever device there is (a CPU is fine for tiny
models and tests, slow for real ones).

Cancellation (SIGTERM from the job runner, or Ctrl-C) stops after the current step and saves
the adapter as it is to `loras/<slug>/checkpoint-<step>/`: nothing half-written, nothing lost.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..files import AdapterFiles
from ..job_process import StopFlag
from .base_model import base_problem, is_gguf, transformers_folder
from .environment import EnvironmentReport, check_environment

DEFAULT_BASE_MODEL = "Qwen/Qwen2.5-3B-Instruct"
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class MemoryMode:
    """How much fits in a given amount of GPU memory with a 3B model in 4 bit."""

    batch_size: int
    gradient_accumulation: int
    max_seq_length: int


MODES = {"8GB": MemoryMode(1, 8, 1024), "16GB": MemoryMode(2, 4, 2048)}


class TrainingError(RuntimeError):
    """Training cannot start or failed; the message says what to do."""


@dataclass
class TrainSettings:
    slug: str
    base_model: str = DEFAULT_BASE_MODEL
    mode: str = "8GB"
    epochs: float = 3.0
    lora_r: int = 16
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    learning_rate: float = 2e-4
    batch_size: int | None = None  # None: the mode's
    gradient_accumulation: int | None = None
    max_seq_length: int | None = None
    max_steps: int = -1  # > 0 overrides epochs
    seed: int = 3407
    backend: str = "auto"  # auto | unsloth | peft

    def resolved(self) -> TrainSettings:
        if self.mode not in MODES:
            raise TrainingError(f"--mode must be one of {', '.join(MODES)}.")
        mode = MODES[self.mode]
        values = asdict(self)
        values["batch_size"] = self.batch_size or mode.batch_size
        values["gradient_accumulation"] = self.gradient_accumulation or mode.gradient_accumulation
        values["max_seq_length"] = self.max_seq_length or mode.max_seq_length
        return TrainSettings(**values)


# ---- data -----------------------------------------------------------------------------------


def read_examples(path: Path) -> list[list[dict[str, str]]]:
    if not path.is_file():
        raise TrainingError(f"{path} does not exist: prepare the training data first "
                            "(`council train-data` or the Training page).")
    conversations = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                messages = json.loads(line)["messages"]
            except (ValueError, KeyError, TypeError):
                raise TrainingError(f"{path}:{number} is not a {{\"messages\": [...]}} "
                                    "line") from None
            if not messages or messages[-1].get("role") != "assistant":
                raise TrainingError(f"{path}:{number} does not end with an assistant turn")
            conversations.append(messages)
    return conversations


def tokenize_conversation(tokenizer: Any, messages: list[dict[str, str]],
                          max_length: int) -> dict[str, list[int]]:
    """Token ids with labels only on the final assistant turn (-100 elsewhere)."""
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False,
                                           add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise TrainingError("The tokenizer's chat template does not render the conversation "
                            "as prompt + answer; cannot mask the prompt out of the loss.")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([-100] * len(prompt_ids) + answer_ids)[:max_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def pad_batch(pad_id: int) -> Callable[[list[dict[str, list[int]]]], dict[str, Any]]:
    def collate(rows: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        def padded(key: str, value: int) -> Any:
            return torch.tensor([r[key] + [value] * (width - len(r[key])) for r in rows])
        return {"input_ids": padded("input_ids", pad_id),
                "attention_mask": padded("attention_mask", 0), "labels": padded("labels", -100)}
    return collate


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- training -------------------------------------------------------------------------------


def _precision() -> str:
    """bf16 on GPUs that have it (Ampere and later), fp16 on older ones (T4), fp32 on a CPU."""
    import torch

    if not torch.cuda.is_available():
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _load_peft(settings: TrainSettings, source: str) -> tuple[Any, Any]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    # fp16 training keeps fp32 master weights (AMP), so only bf16 loads the weights halved
    dtype = torch.bfloat16 if _precision() == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    if torch.cuda.is_available():
        model = model.to("cuda")
    config = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha,
                        lora_dropout=settings.lora_dropout, target_modules=list(TARGET_MODULES),
                        bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, config), tokenizer


def _load_unsloth(settings: TrainSettings, source: str) -> tuple[Any, Any]:
    from unsloth import FastLanguageModel

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=source, max_seq_length=settings.max_seq_length,
        load_in_4bit=True, dtype=None)
    model = FastLanguageModel.get_peft_model(
        model, r=settings.lora_r, lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout, target_modules=list(TARGET_MODULES), bias="none",
        use_gradient_checkpointing="unsloth", random_state=settings.seed)
    return model, tokenizer


def choose_backend(settings: TrainSettings, report: EnvironmentReport) -> str:
    if settings.backend == "unsloth" and not report.can_train_gpu:
        raise TrainingError("unsloth needs a CUDA GPU and requirements-train.txt installed; "
                            "run `council train --check-only` to see what is missing.")
    if settings.backend in ("unsloth", "peft"):
        return settings.backend
    if report.can_train_gpu:
        return "unsloth"
    if not report.can_train:
        raise TrainingError("Neither unsloth (CUDA) nor transformers + PEFT is installed: "
                            ".venv/bin/pip install -r requirements-train.txt")
    return "peft"


def _callback(progress: Callable[..., None], stop: StopFlag, started: float) -> Any:
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """JSON-able progress per logged step; asks the trainer to stop when the flag is set."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **_: Any) -> None:
            self.on_step_end(args, state, control)
            logs = logs or {}
            if "loss" not in logs and "eval_loss" not in logs:
                return
            step, total = state.global_step, state.max_steps
            elapsed = time.monotonic() - started
            eta = elapsed / step * (total - step) if step else None
            progress("train", step, total, loss=logs.get("loss"),
                     eval_loss=logs.get("eval_loss"),
                     learning_rate=logs.get("learning_rate"),
                     epoch=round(float(state.epoch or 0), 3),
                     eta_s=round(eta, 1) if eta is not None else None)
            self.on_step_end(args, state, control)  # a stop asked for by this report

        def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            if stop.event.is_set():
                control.should_training_stop = True

    return ProgressCallback()


def _save_adapter(model: Any, tokenizer: Any, target: Path) -> None:
    """Save into a temp folder next to `target`, then swap it in: never a half adapter."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _peak_memory_mb() -> dict[str, float]:
    import resource

    import torch

    peak = {"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if torch.cuda.is_available():
        peak["vram_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return peak


def train_adapter(settings: TrainSettings, train_path: Path, eval_path: Path | None,
                  loras_dir: Path, progress: Callable[..., None] | None = None,
                  stop: StopFlag | None = None, report: EnvironmentReport | None = None,
                  cache_dir: Path | None = None) -> dict[str, Any]:
    """Train, save the persona's `AdapterFiles` and return its metadata (also saved).

    A GGUF `base_model` is converted once into a transformers folder under `cache_dir`.
    """
    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments, set_seed

    settings = settings.resolved()
    backend = choose_backend(settings, report or check_environment())
    progress = progress or (lambda *a, **k: None)
    stop = stop or StopFlag()
    conversations = read_examples(train_path)
    evaluations = read_examples(eval_path) if eval_path and eval_path.is_file() else []
    if not conversations:
        raise TrainingError(f"{train_path} holds no examples: prepare more data first.")
    problem = base_problem(settings.base_model, backend == "unsloth")
    if problem:
        raise TrainingError(problem)
    set_seed(settings.seed)
    if is_gguf(settings.base_model):
        progress("convert", 0, 1)
    source = transformers_folder(settings.base_model, cache_dir or loras_dir / ".bases")
    progress("load", 0, 1)
    model, tokenizer = (_load_unsloth if backend == "unsloth" else _load_peft)(settings, source)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = [tokenize_conversation(tokenizer, m, settings.max_seq_length) for m in conversations]
    eval_rows = [tokenize_conversation(tokenizer, m, settings.max_seq_length)
                 for m in evaluations]
    files = AdapterFiles(loras_dir, settings.slug)
    work = files.trainer_work
    arguments = TrainingArguments(
        output_dir=str(work), per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation,
        num_train_epochs=settings.epochs, max_steps=settings.max_steps,
        learning_rate=settings.learning_rate, lr_scheduler_type="linear", warmup_steps=0,
        logging_steps=1, save_strategy="no", eval_strategy="no", report_to=[],
        seed=settings.seed, use_cpu=not torch.cuda.is_available(),
        bf16=_precision() == "bf16", fp16=_precision() == "fp16",
        activation_checkpointing=backend == "peft"
        and torch.cuda.is_available(), remove_unused_columns=False, disable_tqdm=True)
    started = time.monotonic()
    trainer = Trainer(model=model, args=arguments, train_dataset=rows,
                      eval_dataset=eval_rows or None,
                      data_collator=pad_batch(int(tokenizer.pad_token_id)),
                      callbacks=[_callback(progress, stop, started)])
    trainer.remove_callback(PrinterCallback)  # progress goes through `progress`, not print()
    result = trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    cancelled = stop.event.is_set() and trainer.state.global_step < trainer.state.max_steps
    eval_loss = None
    if eval_rows and not cancelled:
        eval_loss = float(trainer.evaluate()["eval_loss"])
    target = files.checkpoint(trainer.state.global_step) if cancelled else files.adapter
    _save_adapter(model, tokenizer, target)
    shutil.rmtree(work, ignore_errors=True)
    duration = time.monotonic() - started
    metadata = {
        "persona": settings.slug, "base_model": settings.base_model, "backend": backend,
        "state": "cancelled" if cancelled else "done", "adapter_dir": str(target),
        "data": {"file": str(train_path), "sha256": file_digest(train_path),
                 "bytes": train_path.stat().st_size, "examples": len(rows),
                 "eval_examples": len(eval_rows)},
        "settings": asdict(settings), "steps": trainer.state.global_step,
        "max_steps": trainer.state.max_steps,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None, "train_loss": float(result.training_loss),
        "eval_loss": eval_loss, "losses": losses,
        "duration_s": round(duration, 2),
        "steps_per_s": round(trainer.state.global_step / max(duration, 1e-9), 4),
        "peak_memory": _peak_memory_mb()}
    if any(not math.isfinite(v) for v in losses):
        metadata["state"] = "diverged"
    files.write_metadata(metadata)
    progress("saved", trainer.state.global_step, trainer.state.max_steps,
             state=metadata["state"])
    return metadata
