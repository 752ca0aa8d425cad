"""A PEFT LoRA adapter as a llama.cpp LoRA GGUF, for Ollama and the embedded engine.

llama.cpp applies each pair as `W x + s * B (A x)` with `s = alpha / rank`, `alpha` one float
for the file (`adapter.lora.alpha`) and `rank` read per tensor. PEFT's scale is per module
(`rank_pattern`, `alpha_pattern`, `use_rslora`), so each B is multiplied by PEFT's scale over
llama.cpp's; for a plain adapter that factor is 1 and the tensors are PEFT's own. For the
llama architecture llama.cpp stores q/k rows in its rotary order, and B of q_proj/k_proj gets
the same permutation (A is untouched). Only architectures whose export tests/test_adapter_export.py
checks against llama.cpp and transformers are accepted; anything the file format cannot express
(DoRA, trained biases, embeddings, whole modules, ...) is refused with what to do instead.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# PEFT module name -> llama.cpp tensor name inside a block
BLOCK_TENSORS = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                 "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
                 "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
# transformers model_type -> llama.cpp architecture; only what the tests prove
ARCHITECTURES = {"llama": "llama", "qwen2": "qwen2"}
PERMUTED = {"llama"}  # llama.cpp reorders q/k rows (rotary halves interleaved) for these
PEFT_KEY = re.compile(r"^(?:base_model\.model\.)?(model\.layers\.(\d+)\.(\w+\.\w+))\.lora_([AB])"
                      r"(?:\.default)?\.weight$")
ALTERNATIVE = ("Serve the PEFT folder itself with vLLM (COUNCIL_BACKEND=openai) instead, or merge "
               "it into the base (PEFT merge_and_unload) and convert the merged model to a GGUF "
               "of its own for the embedded engine.")
# adapter_config.json options that a llama.cpp LoRA cannot express (a true value is refused)
REFUSED_OPTIONS = {
    "use_dora": "DoRA rescales each output by a learned magnitude",
    "lora_bias": "it trains a bias on LoRA B (lora_bias)",
    "modules_to_save": "it saves whole trained modules (modules_to_save)",
    "trainable_token_indices": "it trains embedding rows (trainable_token_indices)",
    "layer_replication": "it replicates layers (layer_replication)",
    "fan_in_fan_out": "its weights are stored transposed (fan_in_fan_out, GPT-2 style Conv1D)",
    "target_parameters": "it adapts raw parameters (target_parameters), not Linear modules",
    "alora_invocation_tokens": "Activated LoRA applies only after its invocation tokens",
    "use_qalora": "QA-LoRA pools its inputs",
    "use_bdlora": "BD-LoRA uses block-diagonal factors",
    "monteclora_config": "MonteCLoRA samples its factors",
    "arrow_config": "Arrow routes between several adapters",
    "kasa_config": "KaSA inserts singular values between A and B and changes the base",
}
# initialisations that also change the base weights (unless converted back when saved)
BASE_CHANGING_INITS = ("pissa", "olora", "corda", "loftq", "lora_ga")


class AdapterExportError(ValueError):
    """The adapter cannot be converted; the message says why."""


@dataclass(frozen=True)
class BaseShape:
    """What the export needs to know about the base model."""

    architecture: str  # llama.cpp's name
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int

    def projection_shape(self, module: str) -> tuple[int, int]:
        """(out, in) of the base weight a LoRA on `module` (e.g. `self_attn.q_proj`) adapts."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        return {"self_attn.q_proj": (q, self.hidden), "self_attn.k_proj": (kv, self.hidden),
                "self_attn.v_proj": (kv, self.hidden), "self_attn.o_proj": (self.hidden, q),
                "mlp.gate_proj": (self.intermediate, self.hidden),
                "mlp.up_proj": (self.intermediate, self.hidden),
                "mlp.down_proj": (self.hidden, self.intermediate)}[module]


@dataclass(frozen=True)
class ExportedAdapter:
    path: Path
    architecture: str
    alpha: float  # adapter.lora.alpha, llama.cpp's scale numerator for every pair
    rank: int  # the largest rank (the only one for an adapter without rank_pattern)
    tensors: dict[str, tuple[int, ...]]  # GGUF name -> numpy shape
    ranks: dict[str, int]  # PEFT module name -> rank
    scales: dict[str, float]  # PEFT module name -> PEFT's scale, as llama.cpp now applies it


def gguf_tensor_name(peft_key: str) -> str:
    """PEFT's tensor key to llama.cpp's, e.g.
    `base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight` ->
    `blk.3.attn_q.weight.lora_a`.
    """
    if any(part in peft_key for part in ("embed_tokens", "lm_head", "modules_to_save")):
        raise AdapterExportError(f"The adapter trains {peft_key}; only the attention and MLP "
                                 "projections can be exported as a GGUF adapter. Retrain without "
                                 "embeddings/lm_head in target_modules or modules_to_save.")
    match = PEFT_KEY.match(peft_key)
    if match is None or match.group(3) not in BLOCK_TENSORS:
        raise AdapterExportError(f"Unknown adapter tensor {peft_key}: expected LoRA weights on "
                                 f"{', '.join(BLOCK_TENSORS)}.")
    _, layer, module, side = match.groups()
    return f"blk.{layer}.{BLOCK_TENSORS[module]}.weight.lora_{side.lower()}"


def unsupported(name: str) -> AdapterExportError:
    return AdapterExportError(
        f"Base architecture {name!r} is not supported for GGUF adapters (supported: "
        f"{', '.join(ARCHITECTURES)}, the ones whose export is checked against llama.cpp). "
        + ALTERNATIVE)


GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
                12: "d"}  # GGUF value type -> struct format (8 is a string, 9 an array)


def gguf_metadata(path: Path) -> dict[str, Any]:
    """The scalar and string key/values of a little-endian GGUF file, arrays skipped.

    A few lines instead of `gguf.GGUFReader`, which takes seconds to decode a tokenizer's
    vocabulary that the export never looks at.
    """
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:4] != b"GGUF" or struct.unpack_from("<I", data, 4)[0] not in (2, 3):
            raise AdapterExportError(f"{path} is not a GGUF file llama.cpp can load.")
        position, metadata = 24, {}

        def read(fmt: str) -> Any:
            nonlocal position
            value = struct.unpack_from("<" + fmt, data, position)[0]
            position += struct.calcsize(fmt)
            return value

        def string() -> str:
            nonlocal position
            size = read("Q")
            position += size
            return data[position - size:position].decode("utf-8", "replace")

        for _ in range(struct.unpack_from("<Q", data, 16)[0]):
            key, kind = string(), read("I")
            if kind == 9:  # array: skip it
                item, count = read("I"), read("Q")
                if item == 8:
                    for _ in range(count):
                        string()
                elif item in GGUF_SCALARS:
                    position += count * struct.calcsize(GGUF_SCALARS[item])
                else:
                    raise AdapterExportError(f"{path}: cannot read {key} (nested arrays).")
            elif kind == 8:
                metadata[key] = string()
            elif kind in GGUF_SCALARS:
                metadata[key] = read(GGUF_SCALARS[kind])
            else:
                raise AdapterExportError(f"{path}: unknown GGUF value type {kind} for {key}.")
    return metadata


def gguf_base_shape(path: Path) -> BaseShape:
    """Read the hyperparameters of a base model given as a `.gguf` file."""
    try:
        fields = gguf_metadata(path)
    except (OSError, ValueError, struct.error) as exc:
        raise AdapterExportError(f"Cannot read the base GGUF {path}: {exc}") from None
    arch = str(fields.get("general.architecture", ""))
    if arch not in ARCHITECTURES.values():
        raise unsupported(arch)
    try:
        hidden = int(fields[f"{arch}.embedding_length"])
        heads = int(fields[f"{arch}.attention.head_count"])
        return BaseShape(arch, int(fields[f"{arch}.block_count"]), hidden,
                         int(fields[f"{arch}.feed_forward_length"]), heads,
                         int(fields.get(f"{arch}.attention.head_count_kv", heads)),
                         int(fields.get(f"{arch}.attention.key_length", hidden // heads)))
    except KeyError as exc:
        raise AdapterExportError(f"The base GGUF {path} lacks {exc}.") from None


def base_shape(base_model: str) -> BaseShape:
    """The base model's architecture and sizes: a `.gguf` file, a transformers model folder or
    a cached hub id."""
    if base_model.endswith(".gguf"):
        if not Path(base_model).is_file():
            raise AdapterExportError(f"The base GGUF {base_model} does not exist.")
        return gguf_base_shape(Path(base_model))
    config_file = Path(base_model) / "config.json"
    if config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))
    else:
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(base_model).to_dict()
        except (OSError, ValueError) as exc:
            raise AdapterExportError(f"Cannot read the base model {base_model!r}'s config to "
                                     f"name its architecture: {exc}") from None
    model_type = config.get("model_type", "")
    if model_type not in ARCHITECTURES:
        raise unsupported(model_type)
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    return BaseShape(ARCHITECTURES[model_type], int(config["num_hidden_layers"]), hidden,
                     int(config["intermediate_size"]), heads,
                     int(config.get("num_key_value_heads") or heads),
                     int(config.get("head_dim") or hidden // heads))


def base_architecture(base_model: str) -> str:
    """llama.cpp's name for the base model's architecture (`.gguf`, folder or cached hub id)."""
    return base_shape(base_model).architecture


def check_options(config: dict[str, Any]) -> None:
    """Refuse adapters whose forward pass is not `W x + scale * B A x` on the projections."""
    if config.get("peft_type", "LORA") != "LORA":
        raise AdapterExportError(f"Only LoRA adapters can be exported, not {config['peft_type']}; "
                                 + ALTERNATIVE)
    reasons = [reason for option, reason in REFUSED_OPTIONS.items() if config.get(option)]
    if config.get("bias", "none") != "none":
        reasons.append(f"it trains the base model's biases (bias={config['bias']!r})")
    init = str(config.get("init_lora_weights", True)).lower()
    if init.startswith(BASE_CHANGING_INITS):
        reasons.append(f"init_lora_weights={init!r} changed the base weights too (save it with "
                       "path_initial_model_for_weight_conversion to get a plain LoRA)")
    if reasons:
        raise AdapterExportError("This adapter cannot be written as a llama.cpp LoRA: "
                                 + "; ".join(reasons) + ". Retrain it as a plain LoRA on "
                                 f"{', '.join(BLOCK_TENSORS)}, or: " + ALTERNATIVE)


def pattern_value(patterns: dict[str, Any], module: str, default: Any) -> Any:
    """`rank_pattern`/`alpha_pattern` lookup as PEFT's `get_pattern_key` does it: the first key
    that matches the end of the module name (as a regex, on a dot boundary) wins."""
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def peft_scale(config: dict[str, Any], module: str) -> tuple[int, float]:
    """(rank, scale) PEFT gives `module` (e.g. `model.layers.0.self_attn.q_proj`)."""
    rank = int(pattern_value(config.get("rank_pattern") or {}, module, config.get("r", 8)))
    alpha = float(pattern_value(config.get("alpha_pattern") or {}, module,
                                config.get("lora_alpha", 8)))
    return rank, alpha / (math.sqrt(rank) if config.get("use_rslora") else rank)


def rotary_permute(rows: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's q/k row order (its convert_hf_to_gguf `permute`), applied to LoRA B."""
    out = rows.shape[0]
    return (rows.reshape(heads, 2, out // heads // 2, *rows.shape[1:]).swapaxes(1, 2)
            .reshape(rows.shape))


def load_pairs(weights_file: Path) -> dict[str, dict[str, np.ndarray]]:
    """PEFT module name -> {"A": r x in, "B": out x r} as float32 (bf16 files included)."""
    import torch
    from safetensors.torch import load_file

    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in load_file(str(weights_file)).items():
        gguf_tensor_name(key)  # refuses anything that is not a projection's A or B
        match = PEFT_KEY.match(key)
        assert match is not None
        pairs.setdefault(match.group(1), {})[match.group(4)] = value.to(torch.float32).numpy()
    if not pairs:
        raise AdapterExportError(f"{weights_file} holds no LoRA tensors.")
    return pairs


def llama_cpp_pair(module: str, pair: dict[str, np.ndarray], config: dict[str, Any],
                   base: BaseShape, alpha: float) -> tuple[np.ndarray, np.ndarray, int, float]:
    """(A, B) for llama.cpp, with PEFT's scale folded into B and B's rows permuted where
    llama.cpp permutes the base weight; also the rank and PEFT's scale."""
    if set(pair) != {"A", "B"}:
        raise AdapterExportError(f"{module} has lora_{''.join(pair)} without its pair.")
    a, b = pair["A"], pair["B"]
    rank, scale = peft_scale(config, module)
    layer, kind = int(module.split(".")[2]), ".".join(module.split(".")[3:])
    out, inp = base.projection_shape(kind)
    if layer >= base.layers or a.shape != (rank, inp) or b.shape != (out, rank):
        raise AdapterExportError(
            f"{module} has A {a.shape} and B {b.shape}; the base model ({base.architecture}, "
            f"{base.layers} layers) and adapter_config.json (r={rank}) expect A {(rank, inp)} "
            f"and B {(out, rank)}: was it trained on another base model?")
    llama_scale = alpha / rank if alpha else 1.0  # llama.cpp's rule for adapter.lora.alpha
    if scale != llama_scale:
        b = b * np.float32(scale / llama_scale)
    if base.architecture in PERMUTED and kind in ("self_attn.q_proj", "self_attn.k_proj"):
        b = rotary_permute(b, base.heads if kind == "self_attn.q_proj" else base.kv_heads)
    return a, b, rank, scale


def export_gguf_adapter(adapter_dir: Path, target: Path,
                        base_model: str | None = None) -> ExportedAdapter:
    """Write `target` (atomically) from the PEFT adapter in `adapter_dir`; `base_model` is the
    model it was trained on (`.gguf`, folder or hub id; default: the adapter's own record)."""
    import gguf

    config_file = adapter_dir / "adapter_config.json"
    weights_file = adapter_dir / "adapter_model.safetensors"
    if not config_file.is_file() or not weights_file.is_file():
        raise AdapterExportError(f"{adapter_dir} is not a PEFT adapter (adapter_config.json and "
                                 "adapter_model.safetensors expected): train it first.")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    check_options(config)
    base = base_shape(base_model or str(config.get("base_model_name_or_path")))
    alpha = float(config.get("lora_alpha", 8))
    tensors: dict[str, np.ndarray] = {}
    ranks: dict[str, int] = {}
    scales: dict[str, float] = {}
    for module, pair in sorted(load_pairs(weights_file).items()):
        a, b, ranks[module], scales[module] = llama_cpp_pair(module, pair, config, base, alpha)
        name = gguf_tensor_name(f"{module}.lora_A.weight")[:-len("_a")]
        tensors[f"{name}_a"], tensors[f"{name}_b"] = a, b
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        writer = gguf.GGUFWriter(staging, base.architecture)
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
        for name in sorted(tensors):
            writer.add_tensor(name, np.ascontiguousarray(tensors[name], dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(staging, target)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return ExportedAdapter(target, base.architecture, alpha, max(ranks.values()),
                           {name: tuple(value.shape) for name, value in tensors.items()},
                           ranks, scales)
