"""A persona adapter as training leaves it (PEFT folder and metadata.json), made in a second.

Its B matrices are random rather than zero (`init_lora_weights=False`), so the adapter changes
the model's logits and a path that silently drops it shows."""

from __future__ import annotations

from pathlib import Path

from council.files import AdapterFiles

PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def write_trained_adapter(loras_dir: Path, slug: str, base: Path, seed: int = 0) -> Path:
    """LORAS_DIR/<slug>/adapter on `base` (r=8, alpha=16, all projections), state done."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    files = AdapterFiles(loras_dir, slug)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base))
    config = LoraConfig(r=8, lora_alpha=16, target_modules=PROJECTIONS, lora_dropout=0.0,
                        init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(str(files.adapter))
    files.write_metadata({"state": "done", "adapter_dir": str(files.adapter),
                          "base_model": str(base), "backend": "peft", "steps": 1,
                          "max_steps": 1, "final_loss": 1.0, "eval_loss": None})
    return files.adapter
