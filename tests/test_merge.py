"""Merging a PEFT adapter into its base for Ollama, on the tiny Qwen2 (tests/tiny_qwen.py).

The acceptance check: the merged folder, loaded as a plain transformers model, computes what the
base with the adapter applied by PEFT computes (Pearson correlation of the logits on a chat
prompt >= 0.99), and clearly not what the base alone computes. Run with `-s` for the figures.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from council.training.merge import (
    OLLAMA_IMPORTABLE,
    MergeError,
    base_folder,
    estimate_merge,
    merge_adapter,
)
from council.training.train import TARGET_MODULES

CONVERSATION = [{"role": "system", "content": "You are a careful engineer on the council."},
                {"role": "user", "content": "How do I fix a KeyError in my Python dictionary?"}]


def save_adapter(base: Path, folder: Path, seed: int = 0, **options: Any) -> Path:
    """A LoRA on all 7 projections with non-zero B (init_lora_weights=False)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base))
    config = LoraConfig(r=8, lora_alpha=16, target_modules=list(TARGET_MODULES),
                        init_lora_weights=False, **options)
    get_peft_model(model, config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def adapter(tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_adapter(tiny_base_model, tmp_path_factory.mktemp("adapter"))


@pytest.fixture(scope="module")
def patterned_adapter(tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Per-module ranks and alphas: each module's scale is its own alpha over its own rank."""
    return save_adapter(tiny_base_model, tmp_path_factory.mktemp("patterned"), seed=1,
                        rank_pattern={"q_proj": 4, "down_proj": 2},
                        alpha_pattern={"v_proj": 64, "up_proj": 3})


def logits(model: Any, tokenizer: Any) -> np.ndarray:
    import torch

    ids = tokenizer.apply_chat_template(CONVERSATION, add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits.float().numpy().ravel()


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


@pytest.mark.parametrize("which", ["plain", "rank and alpha patterns"])
def test_merged_model_computes_base_plus_adapter(which: str, tiny_base_model: Path,
                                                 adapter: Path, patterned_adapter: Path,
                                                 tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    chosen = adapter if which == "plain" else patterned_adapter
    stages: list[tuple[str, float]] = []
    merged = merge_adapter(str(tiny_base_model), chosen, tmp_path / "merged",
                           lambda stage, fraction: stages.append((stage, fraction)))
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_base_model))
    base_only = logits(AutoModelForCausalLM.from_pretrained(str(tiny_base_model)), tokenizer)
    with_adapter = logits(PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(tiny_base_model)), str(chosen)), tokenizer)
    from_merged = logits(AutoModelForCausalLM.from_pretrained(str(merged.folder)),
                         AutoTokenizer.from_pretrained(str(merged.folder)))
    agreement, with_base = correlation(from_merged, with_adapter), correlation(from_merged,
                                                                               base_only)
    print(f"\n{which}: merged vs PEFT r={agreement:.6f}, max |diff| "
          f"{np.abs(from_merged - with_adapter).max():.2e}; merged vs base alone "
          f"r={with_base:.4f}, max |diff| {np.abs(from_merged - base_only).max():.3f}")
    assert agreement >= 0.99
    assert with_base < 0.95 and np.abs(from_merged - base_only).max() > 1.0, \
        "the merge must carry the adapter's change"
    fractions = [fraction for _, fraction in stages]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert {"loading the base model", "merging", "done"} <= {stage for stage, _ in stages}


@pytest.mark.timeout(400)
def test_merged_bundled_model_computes_base_plus_adapter(model_cache: Path,
                                                         tmp_path: Path) -> None:
    """The same check on a real model: the bundled SmolLM2-135M (llama architecture), as
    training sees it (its GGUF converted to a transformers folder)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from council.llm.embedded import bundled_model_path
    from council.training.base_model import transformers_folder

    base = Path(transformers_folder(str(bundled_model_path()), model_cache))
    chosen = save_adapter(base, tmp_path / "adapter")
    merged = merge_adapter(str(base), chosen, tmp_path / "merged")
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    with_adapter = logits(PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(base)), str(chosen)), tokenizer)
    from_merged = logits(AutoModelForCausalLM.from_pretrained(str(merged.folder)), tokenizer)
    base_only = logits(AutoModelForCausalLM.from_pretrained(str(base)), tokenizer)
    agreement = correlation(from_merged, with_adapter)
    print(f"\nSmolLM2-135M: merged vs PEFT r={agreement:.6f}, merged vs base alone "
          f"r={correlation(from_merged, base_only):.4f}")
    assert agreement >= 0.99
    assert np.abs(from_merged - base_only).max() > 1.0, "the merge must carry the adapter"
    config = json.loads((merged.folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["rope_theta"] == 100000, "where Ollama's importer reads the RoPE base"
    assert "chat_template" in json.loads((merged.folder / "tokenizer_config.json").read_text())


def test_merged_folder_holds_what_ollama_imports(tiny_base_model: Path, adapter: Path,
                                                  tmp_path: Path) -> None:
    from safetensors import safe_open

    merged = merge_adapter(str(tiny_base_model), adapter, tmp_path / "merged")
    on_disk = {path.name for path in merged.folder.iterdir()}
    assert set(merged.files) == on_disk == {
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
        "model.safetensors"}
    assert all(path.parent == merged.folder for path in merged.files.values())
    config = json.loads((merged.folder / "config.json").read_text(encoding="utf-8"))
    base_config = json.loads((tiny_base_model / "config.json").read_text(encoding="utf-8"))
    assert config["architectures"] == base_config["architectures"] == ["Qwen2ForCausalLM"]
    assert config["dtype"] == base_config["dtype"]
    assert config["rope_theta"] == base_config["rope_parameters"]["rope_theta"], \
        "Ollama's importer reads the RoPE base from rope_theta"
    tokenizer_config = json.loads((merged.folder / "tokenizer_config.json").read_text("utf-8"))
    assert "<|im_start|>" in tokenizer_config["chat_template"], \
        "Ollama's importer reads the chat template from tokenizer_config.json"
    with safe_open(str(merged.files["model.safetensors"]), "pt") as weights, \
            safe_open(str(tiny_base_model / "model.safetensors"), "pt") as base_weights:
        assert set(weights.keys()) == set(base_weights.keys()), "no LoRA tensors left"
        for name in weights.keys():
            assert weights.get_slice(name).get_dtype() == base_weights.get_slice(name).get_dtype()
    assert merged.size_bytes == sum(path.stat().st_size for path in merged.files.values())


def test_estimate_matches_the_merge(tiny_base_model: Path, adapter: Path,
                                    tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    estimate = estimate_merge(str(tiny_base_model))
    merged = merge_adapter(str(tiny_base_model), adapter, tmp_path / "merged")
    print(f"\nestimate {estimate.size_bytes} bytes, merged {merged.size_bytes} bytes: "
          f"{estimate.describe()}")
    assert estimate.architecture == "Qwen2ForCausalLM"
    assert estimate.parameters == AutoModelForCausalLM.from_pretrained(
        str(tiny_base_model)).num_parameters()
    assert abs(estimate.size_bytes / merged.size_bytes - 1) < 0.03
    assert 3 < estimate.seconds < 5, "a tiny model costs little more than the imports"
    assert estimate.describe().startswith("≈ ") and "to merge here" in estimate.describe()


def copy_base(base: Path, folder: Path, **config_changes: Any) -> Path:
    shutil.copytree(base, folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    (folder / "config.json").write_text(json.dumps({**config, **config_changes}),
                                        encoding="utf-8")
    return folder


def refusal(base_model: str) -> str:
    with pytest.raises(MergeError) as caught:
        base_folder(base_model)
    with pytest.raises(MergeError):
        estimate_merge(base_model)
    return str(caught.value)


def test_a_hub_id_outside_the_cache_is_refused(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    message = refusal("council-tests/no-such-model-7b")
    assert "not on disk" in message and "no-such-model-7b" in message


def test_bases_that_cannot_be_merged_or_imported_are_refused(tiny_base_model: Path,
                                                             tmp_path: Path) -> None:
    bin_only = copy_base(tiny_base_model, tmp_path / "bin-only")
    (bin_only / "model.safetensors").rename(bin_only / "pytorch_model.bin")
    assert "only PyTorch .bin" in refusal(str(bin_only))
    quantized = copy_base(tiny_base_model, tmp_path / "4bit", quantization_config={
        "quant_method": "bitsandbytes", "load_in_4bit": True})
    message = refusal(str(quantized))
    assert "bitsandbytes" in message and "full-precision" in message
    neox = copy_base(tiny_base_model, tmp_path / "neox", architectures=["GPTNeoXForCausalLM"])
    message = refusal(str(neox))
    assert "GPTNeoXForCausalLM" in message and "Qwen2ForCausalLM" in message
    assert "GPTNeoXForCausalLM" not in OLLAMA_IMPORTABLE
    no_config = copy_base(tiny_base_model, tmp_path / "no-config")
    (no_config / "config.json").unlink()
    assert "no config.json" in refusal(str(no_config))
    assert str(tiny_base_model) == str(base_folder(str(tiny_base_model)))


def test_a_qwen2_base_with_rope_scaling_is_refused_before_merging(tiny_base_model: Path,
                                                                 tmp_path: Path) -> None:
    """Ollama's qwen2 converter reads the scaling factor as a list and panics on types it does
    not know: however the config spells the scaling, the base is refused from its headers."""
    yarn = {"factor": 4.0, "original_max_position_embeddings": 256}
    spellings = {"yarn-hub": {"rope_scaling": {"type": "yarn", **yarn}},
                 "yarn-transformers5": {"rope_parameters": {"rope_type": "yarn",
                                                            "rope_theta": 10000.0, **yarn}},
                 "linear": {"rope_scaling": {"rope_type": "linear", "factor": 2.0}}}
    for name, changes in spellings.items():
        message = refusal(str(copy_base(tiny_base_model, tmp_path / name, **changes)))
        assert "Qwen2ForCausalLM" in message and "RoPE scaling" in message
    plain = copy_base(tiny_base_model, tmp_path / "plain", rope_scaling=None,
                      rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    assert estimate_merge(str(plain)).architecture == "Qwen2ForCausalLM"
    llama = copy_base(tiny_base_model, tmp_path / "llama", architectures=["LlamaForCausalLM"],
                      rope_scaling={"rope_type": "llama3", "factor": 8.0})
    assert base_folder(str(llama)) == llama, "only the qwen2 converter is known to fail on it"


def test_an_adapter_for_another_base_is_refused(tiny_base_model: Path, adapter: Path,
                                                tmp_path: Path) -> None:
    """Wider projections fail in PEFT; an extra layer PEFT would drop silently."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = json.loads((tiny_base_model / "config.json").read_text(encoding="utf-8"))
    shapes = {"wider": {"hidden_size": 64}, "deeper": {"num_hidden_layers": 3,
                                                       "layer_types": ["full_attention"] * 3}}
    for name, changes in shapes.items():
        other = tmp_path / name
        Qwen2ForCausalLM(Qwen2Config(**{**config, **changes})).save_pretrained(str(other))
        with pytest.raises(MergeError, match="does not fit|was not trained on") as caught:
            merge_adapter(str(tiny_base_model), save_adapter(other, tmp_path / f"{name}-lora"),
                          tmp_path / "merged")
        print(f"\n{name}: {caught.value}")
    assert "the base has no place for" in str(caught.value)
    with pytest.raises(MergeError, match="not a PEFT adapter folder"):
        merge_adapter(str(tiny_base_model), tiny_base_model, tmp_path / "merged")


def test_without_peft_the_merge_says_what_to_install(tiny_base_model: Path, adapter: Path,
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "peft", None)  # what `import peft` meets when missing
    with pytest.raises(MergeError, match="pip install -r requirements-train.txt"):
        merge_adapter(str(tiny_base_model), adapter, tmp_path / "merged")
    assert not (tmp_path / "merged").exists() and not list(tmp_path.iterdir())


def test_a_failed_merge_keeps_the_earlier_target(tiny_base_model: Path, adapter: Path,
                                                 tmp_path: Path) -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    target = tmp_path / "out" / "merged"
    first = merge_adapter(str(tiny_base_model), adapter, target)
    before = {name: path.read_bytes() for name, path in first.files.items()}
    config = json.loads((tiny_base_model / "config.json").read_text(encoding="utf-8"))
    Qwen2ForCausalLM(Qwen2Config(**{**config, "hidden_size": 64})).save_pretrained(
        str(tmp_path / "wider"))
    with pytest.raises(MergeError):
        merge_adapter(str(tiny_base_model), save_adapter(tmp_path / "wider", tmp_path / "lora"),
                      target)
    assert [path.name for path in target.parent.iterdir()] == ["merged"], "no staging left"
    assert {name: path.read_bytes() for name, path in first.files.items()} == before
    again = merge_adapter(str(tiny_base_model), adapter, target)
    assert [path.name for path in target.parent.iterdir()] == ["merged"]
    assert set(again.files) == set(first.files)
