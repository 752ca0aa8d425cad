"""A PEFT LoRA adapter as a llama.cpp LoRA GGUF, which Ollama applies on top of its base model.

Layout as llama.cpp's adapter loader expects it: `general.architecture` of the base,
`general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha`; per adapted weight two
tensors `blk.N.<name>.weight.lora_a` (r x in, as PEFT stores lora_A) and `.lora_b` (out x r).
Only the attention and MLP projections of the transformer blocks are mapped; an adapter that
also trains embeddings or the output head (`modules_to_save`, `embed_tokens`, `lm_head`) is
refused, since Ollama could not apply it faithfully.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# PEFT module name -> llama.cpp tensor name inside a block
BLOCK_TENSORS = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                 "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
                 "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
# transformers model_type -> llama.cpp architecture name
ARCHITECTURES = {"qwen2": "qwen2", "llama": "llama", "mistral": "llama", "qwen3": "qwen3"}
PEFT_KEY = re.compile(r"^(?:base_model\.model\.)?model\.layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])"
                      r"(?:\.default)?\.weight$")


class AdapterExportError(ValueError):
    """The adapter cannot be converted; the message says why."""


@dataclass(frozen=True)
class ExportedAdapter:
    path: Path
    architecture: str
    alpha: float
    rank: int
    tensors: dict[str, tuple[int, ...]]  # GGUF name -> numpy shape


def gguf_tensor_name(peft_key: str) -> str:
    """PEFT's tensor key to llama.cpp's, e.g.
    `base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight` ->
    `blk.3.attn_q.weight.lora_a`.
    """
    if any(part in peft_key for part in ("embed_tokens", "lm_head", "modules_to_save")):
        raise AdapterExportError(f"The adapter trains {peft_key}; only the attention and MLP "
                                 "projections can be exported for Ollama. Retrain without "
                                 "embeddings/lm_head in target_modules or modules_to_save.")
    match = PEFT_KEY.match(peft_key)
    if match is None or match.group(2) not in BLOCK_TENSORS:
        raise AdapterExportError(f"Unknown adapter tensor {peft_key}: expected LoRA weights on "
                                 f"{', '.join(BLOCK_TENSORS)}.")
    layer, module, side = match.groups()
    return f"blk.{layer}.{BLOCK_TENSORS[module]}.weight.lora_{side.lower()}"


def base_architecture(base_model: str) -> str:
    """llama.cpp's name for the base model's architecture (local folder or cached hub id)."""
    config = Path(base_model) / "config.json"
    if config.is_file():
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type", "")
    else:
        from transformers import AutoConfig

        try:
            model_type = AutoConfig.from_pretrained(base_model).model_type
        except OSError as exc:
            raise AdapterExportError(f"Cannot read the base model {base_model!r}'s config to "
                                     f"name its architecture: {exc}") from None
    if model_type not in ARCHITECTURES:
        raise AdapterExportError(f"Base architecture {model_type!r} is not supported for GGUF "
                                 f"adapters (supported: {', '.join(ARCHITECTURES)}).")
    return ARCHITECTURES[model_type]


def export_gguf_adapter(adapter_dir: Path, target: Path,
                        base_model: str | None = None) -> ExportedAdapter:
    """Write `target` (atomically) from the PEFT adapter in `adapter_dir`."""
    import gguf
    from safetensors.numpy import load_file

    config_file = adapter_dir / "adapter_config.json"
    weights_file = adapter_dir / "adapter_model.safetensors"
    if not config_file.is_file() or not weights_file.is_file():
        raise AdapterExportError(f"{adapter_dir} is not a PEFT adapter (adapter_config.json and "
                                 "adapter_model.safetensors expected): train it first.")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if config.get("peft_type", "LORA") != "LORA":
        raise AdapterExportError(f"Only LoRA adapters can be exported, not {config['peft_type']}.")
    if config.get("modules_to_save"):
        raise AdapterExportError("The adapter saves whole modules "
                                 f"({config['modules_to_save']}); Ollama cannot apply those.")
    architecture = base_architecture(base_model or str(config.get("base_model_name_or_path")))
    alpha, rank = float(config.get("lora_alpha", 16)), int(config.get("r", 16))
    tensors = {gguf_tensor_name(key): value for key, value in load_file(str(weights_file)).items()}
    if not tensors:
        raise AdapterExportError(f"{weights_file} holds no LoRA tensors.")
    for name, value in tensors.items():
        pair = name[:-1] + ("b" if name.endswith("a") else "a")
        if pair not in tensors:
            raise AdapterExportError(f"{name} has no matching {pair}.")
        if value.ndim != 2 or rank not in value.shape:
            raise AdapterExportError(f"{name} has shape {value.shape}, not a rank-{rank} factor.")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        writer = gguf.GGUFWriter(staging, architecture)
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
    return ExportedAdapter(target, architecture, alpha, rank,
                           {name: tuple(value.shape) for name, value in tensors.items()})
