"""What this machine can train with: CUDA and the GPU, and which training packages import.

The Training page and `council train --check-only` show this report; the trainer picks its
path (unsloth QLoRA or transformers + PEFT) from it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

TRAINING_PACKAGES = ("torch", "transformers", "peft", "accelerate", "unsloth", "trl",
                     "bitsandbytes", "gguf")


@dataclass
class EnvironmentReport:
    packages: dict[str, bool]
    cuda: bool = False
    cuda_version: str | None = None
    gpu: str | None = None
    vram_gb: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def can_train_gpu(self) -> bool:
        """unsloth QLoRA: CUDA plus unsloth, trl and bitsandbytes."""
        return self.cuda and all(self.packages.get(p) for p in ("unsloth", "trl",
                                                                "bitsandbytes", "peft"))

    @property
    def can_train(self) -> bool:
        """Some path works: the GPU one, or transformers + PEFT (+ accelerate) on any device."""
        return self.can_train_gpu or all(self.packages.get(p) for p in (
            "torch", "transformers", "peft", "accelerate"))

    def lines(self) -> list[str]:
        gpu = (f"{self.gpu}, {self.vram_gb:.1f} GB VRAM, CUDA {self.cuda_version}"
               if self.cuda else "none (no CUDA device visible to torch)")
        lines = [f"GPU: {gpu}"]
        lines += [f"{name}: {'importable' if ok else 'MISSING'}"
                  for name, ok in self.packages.items()]
        if self.can_train_gpu:
            lines.append("ready: unsloth QLoRA on the GPU")
        elif self.can_train:
            lines.append("ready: transformers + PEFT LoRA (no unsloth/CUDA: slow, fine for "
                         "small models)")
        lines += [f"to fix: {p}" for p in self.problems]
        return lines

    def summary(self) -> dict[str, Any]:
        return {**asdict(self), "can_train_gpu": self.can_train_gpu,
                "can_train": self.can_train}


def check_environment(importable: Callable[[str], bool] | None = None) -> EnvironmentReport:
    """What this machine can train with, and what to install for the rest."""
    def found(name: str) -> bool:
        return importlib.util.find_spec(name) is not None

    importable = importable or found
    report = EnvironmentReport({name: bool(importable(name)) for name in TRAINING_PACKAGES})
    if report.packages["torch"]:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            report.cuda, report.cuda_version = True, torch.version.cuda
            report.gpu, report.vram_gb = props.name, props.total_memory / 2**30
    missing = [p for p in ("unsloth", "trl", "bitsandbytes", "peft", "accelerate", "gguf")
               if not report.packages[p]]
    if missing:
        report.problems.append(f"{', '.join(missing)} missing: .venv/bin/pip install -r "
                               "requirements-train.txt")
    if not report.cuda:
        report.problems.append("no CUDA GPU: QLoRA needs an NVIDIA GPU with about 8 GB; "
                               "without one only the slow PEFT path runs")
    return report
