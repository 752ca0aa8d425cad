"""What the demo server knows about each model: its family, shape and size, told the way Ollama
tells them.

Fields follow Ollama's api/types.go (v0.33.0-rc2): `ListModelResponse` for /api/tags,
`ModelDetails`, and `ShowResponse.model_info` with the GGUF keys a real model carries
(`general.architecture`, `<arch>.block_count`, `<arch>.attention.head_count`, ...), so code that
estimates KV memory from /api/show reads the same keys here as on a real server. qwen2.5:3b and
qwen2.5:7b have their real shapes and Q4_K_M sizes; other sizes are plausible inventions.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Shape:
    """A model size's architecture numbers and the bytes of its Q4_K_M GGUF."""

    parameter_size: str
    block_count: int
    head_count: int
    head_count_kv: int
    embedding_length: int
    size: int


SHAPES = {
    "0.5b": Shape("494.03M", 24, 14, 2, 896, 397_821_319),
    "1.5b": Shape("1.5B", 28, 12, 2, 1536, 986_061_892),
    "3b": Shape("3.1B", 36, 16, 2, 2048, 1_929_912_432),
    "7b": Shape("7.6B", 28, 28, 4, 3584, 4_683_087_332),
}
SMALL_SHAPE = Shape("1.2B", 16, 16, 4, 2048, 807_694_464)  # names that say no size
# the family a model name starts with, first match wins; anything else is a qwen2
NAME_FAMILIES = (("qwen2.5", "qwen2"), ("qwen3", "qwen3"), ("gemma3", "gemma3"),
                 ("llama", "llama"))
# what `<arch>.context_length` says, per family
CONTEXT_LENGTHS = {"qwen2": 32768, "qwen3": 40960, "gemma3": 131072, "llama": 131072}
DEFAULT_CONTEXT_LENGTH = 32768
# an imported model's GGUF size relative to its F16 weights, per quantization
SIZE_PER_F16_BYTE = {"F32": 2.0, "F16": 1.0, "BF16": 1.0, "Q8_0": 0.53, "Q4_K_M": 0.31,
                     "Q4_K_S": 0.29}
# config.json architectures Ollama's importer writes as these GGUF architectures
IMPORTED_FAMILIES = {"Qwen2ForCausalLM": "qwen2", "LlamaForCausalLM": "llama",
                     "Gemma3ForCausalLM": "gemma3", "Gemma3ForConditionalGeneration": "gemma3",
                     "Qwen3NextForCausalLM": "qwen3next", "Phi3ForCausalLM": "phi3"}


def now_iso() -> str:
    """A timestamp as Go's time.Time marshals it."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def family_of(name: str) -> str:
    """The GGUF architecture a model's name suggests (qwen2 when it suggests none)."""
    lowered = name.lower()
    return next((family for prefix, family in NAME_FAMILIES if lowered.startswith(prefix)),
                "qwen2")


def shape_of(name: str) -> Shape:
    """The shape a model's tag announces ("3b", "7b-instruct"), or a small one."""
    tag = name.rsplit(":", 1)[-1].lower()
    match = re.search(r"(\d+(?:\.\d+)?b)\b", tag)
    return SHAPES.get(match.group(1) if match else "", SMALL_SHAPE)


@dataclass
class ModelSpec:
    """One installed model. An adapter model keeps its base: Ollama loads it in the base's
    runner (same ModelPath), with its adapters."""

    name: str
    family: str
    shape: Shape
    size: int
    base: str | None = None
    adapters: tuple[str, ...] = ()
    quantization: str = "Q4_K_M"
    context_length: int = DEFAULT_CONTEXT_LENGTH
    modified_at: str = field(default_factory=now_iso)

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.name}\n{self.adapters}".encode()).hexdigest()

    @property
    def runner_key(self) -> str:
        """The scheduler's key: the weights file, shared by a base and its adapter models."""
        return self.base or self.name

    def details(self) -> dict[str, Any]:
        return {"parent_model": self.base or "", "format": "gguf", "family": self.family,
                "families": [self.family], "parameter_size": self.shape.parameter_size,
                "quantization_level": self.quantization}

    def tags_entry(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.name, "modified_at": self.modified_at,
                "size": self.size, "digest": self.digest, "details": self.details()}

    def model_info(self) -> dict[str, Any]:
        arch, shape = self.family, self.shape
        return {"general.architecture": arch, "general.parameter_count": _parameters(shape),
                f"{arch}.block_count": shape.block_count,
                f"{arch}.attention.head_count": shape.head_count,
                f"{arch}.attention.head_count_kv": shape.head_count_kv,
                f"{arch}.embedding_length": shape.embedding_length,
                f"{arch}.context_length": self.context_length}


def _parameter_label(count: int) -> str:
    """Ollama's parameter_size wording: "7.6B", "494.03M"."""
    return f"{count / 1e9:.1f}B" if count >= 1e9 else f"{count / 1e6:.2f}M"


def _parameters(shape: Shape) -> int:
    number = float(shape.parameter_size[:-1])
    return int(number * (1e9 if shape.parameter_size.endswith("B") else 1e6))


def pulled(name: str, family: str | None = None) -> ModelSpec:
    """A model as `ollama pull` would install it (Q4_K_M)."""
    family = family or family_of(name)
    shape = shape_of(name)
    return ModelSpec(name, family, shape, shape.size,
                     context_length=CONTEXT_LENGTHS.get(family, DEFAULT_CONTEXT_LENGTH))


def derived(name: str, base: ModelSpec, adapters: tuple[str, ...],
            adapter_bytes: int) -> ModelSpec:
    """A model created from base's layers, plus ADAPTER layers if any: base's weights, family
    and runner key. A model imported from files is its own base."""
    if base.name == name and not base.base:
        return replace(base, adapters=adapters, size=base.size + adapter_bytes)
    return replace(base, name=name, base=base.runner_key,
                   adapters=base.adapters + adapters, size=base.size + adapter_bytes,
                   modified_at=now_iso())


def imported(name: str, config: dict[str, Any], f16_bytes: int) -> ModelSpec:
    """A model converted from safetensors (F16 until quantized): its shape read from
    config.json, its size from the weights."""
    architecture = config["architectures"][0]
    family = IMPORTED_FAMILIES.get(architecture, architecture.lower().split("for")[0])
    shape = Shape(_parameter_label(f16_bytes // 2),
                  int(config.get("num_hidden_layers") or SMALL_SHAPE.block_count),
                  int(config.get("num_attention_heads") or SMALL_SHAPE.head_count),
                  int(config.get("num_key_value_heads") or config.get("num_attention_heads")
                      or SMALL_SHAPE.head_count_kv),
                  int(config.get("hidden_size") or SMALL_SHAPE.embedding_length), f16_bytes)
    context = int(config.get("max_position_embeddings") or DEFAULT_CONTEXT_LENGTH)
    return ModelSpec(name, family, shape, f16_bytes, quantization="F16",
                     context_length=context)


def quantized(spec: ModelSpec, level: str) -> ModelSpec:
    """spec requantized to level (a ParseFileType name: Q4_K is Q4_K_M), its size scaled."""
    level = "Q4_K_M" if level == "Q4_K" else level
    ratio = SIZE_PER_F16_BYTE[level] / SIZE_PER_F16_BYTE[spec.quantization]
    return replace(spec, quantization=level, size=int(spec.size * ratio))
