"""GGUF base models for the adapter-export tests, written with gguf-py (nothing downloaded).

`f32_copy` dequantises a GGUF (the bundled SmolLM2 Q4_1) so that llama.cpp and transformers
compute the same function; `write_qwen2_gguf` writes a transformers Qwen2 model as a llama.cpp
qwen2 GGUF with another GGUF's tokenizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

QWEN2_TENSORS = {  # transformers name (after `model.layers.N.`) -> llama.cpp name (after blk.N.)
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def copy_fields(reader: Any, writer: Any, keep: Any) -> None:
    """Copy the key/value metadata for which `keep(key)` holds, types unchanged."""
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or not keep(key):
            continue
        sub_type = field.types[-1] if len(field.types) > 1 else None
        writer.add_key_value(key, field.contents(), field.types[0], sub_type)


def write(writer: Any) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def f32_copy(reader: Any, target: Path) -> Path:
    """The GGUF that `reader` (a `gguf.GGUFReader`) reads, with every tensor dequantised to F32
    and all its metadata."""
    import gguf

    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(str(target), arch)
    copy_fields(reader, writer, lambda key: key != "general.file_type")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, np.ascontiguousarray(
            gguf.quants.dequantize(tensor.data, tensor.tensor_type), dtype=np.float32))
    write(writer)
    return target


def write_qwen2_gguf(model: Any, tokenizer: Any, target: Path) -> Path:
    """A transformers `Qwen2ForCausalLM` (untied head) as an F32 llama.cpp qwen2 GGUF, with the
    `tokenizer.*` metadata of the GGUF that `tokenizer` (a `gguf.GGUFReader`) reads; the model
    must have that vocabulary's size."""
    import gguf

    config = model.config
    writer = gguf.GGUFWriter(str(target), "qwen2")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(float(config.rope_parameters["rope_theta"]))
    copy_fields(tokenizer, writer, lambda key: key.startswith("tokenizer."))
    names = {"model.embed_tokens.weight": "token_embd.weight",
             "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
    for layer in range(config.num_hidden_layers):
        names.update({f"model.layers.{layer}.{hf}": f"blk.{layer}.{cpp}"
                      for hf, cpp in QWEN2_TENSORS.items()})
    state = model.state_dict()
    assert set(state) == set(names), set(state) ^ set(names)
    for hf, cpp in names.items():
        writer.add_tensor(cpp, state[hf].detach().float().numpy())
    write(writer)
    return target
