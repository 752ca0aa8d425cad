"""What an Ollama server does with persona models, read from Ollama's source.

Read in ollama/ollama at v0.33.0-rc2 (the newest tag readable), and v0.24.0 for the runner it
replaced. Registration uses the version only as a hint for the plan it shows first; what a
server really does is found by trying (ollama_register.py). The demo server imitates the same
facts (demo_models.py).
"""

from __future__ import annotations

import re

# A third-party report (linking ollama/ollama #14969, which we cannot read) says 0.34.1 stopped
# creating models with an `ADAPTER`. Unconfirmed: the newest source we read still accepts them.
REPORTED_ADAPTER_REFUSAL = (0, 34, 1)
# Up to v0.24.0 the Ollama-engine runner (runner/ollamarunner) served the architectures below
# and refused to load any adapter ("loras are not yet implemented") at the first chat, while
# create and show succeeded; by v0.30.0 every model runs in llama.cpp's llama-server, which
# takes `--lora`.
LLAMA_SERVER_RUNNER = (0, 30, 0)
# fs/ggml/ggml.go `OllamaEngineRequired` (v0.24.0): the GGUF architectures it served. Older
# releases served fewer (v0.12.6: gemma3, gemma3n, mistral3, qwen3, qwen3moe, llama4, mllama,
# qwen25vl, gptoss), so for them this is a hint; registration asks the model to answer anyway.
OLLAMA_ENGINE_FAMILIES = frozenset({
    "bert", "deepseek2", "deepseekocr", "gemma3", "gemma3n", "gemma4", "gptoss", "gpt-oss",
    "laguna", "llama4", "mistral3", "mllama", "nemotron_h", "nemotron_h_moe",
    "nemotron_h_omni", "nomic-bert", "olmo3", "qwen25vl", "qwen3", "qwen3moe", "qwen35",
    "qwen35moe", "qwen3next", "qwen3vl", "qwen3vlmoe", "glm4moelite", "glmocr", "lfm2",
    "lfm2moe"})
# config.json `architectures[0]` values Ollama's safetensors importer converts
# (convert/convert.go `LoadModelMetadata`, v0.33.0-rc2); anything else fails mid-stream with
# `unsupported architecture "X"`
OLLAMA_IMPORTABLE = frozenset({
    "LlamaForCausalLM", "MllamaForConditionalGeneration", "Llama4ForConditionalGeneration",
    "Mistral3ForConditionalGeneration", "Ministral3ForCausalLM", "MixtralForCausalLM",
    "GemmaForCausalLM", "Gemma2ForCausalLM", "Gemma3ForCausalLM",
    "Gemma3ForConditionalGeneration", "Gemma3TextModel", "Gemma3nForConditionalGeneration",
    "Gemma4ForCausalLM", "Gemma4ForConditionalGeneration", "Phi3ForCausalLM",
    "Qwen2ForCausalLM", "Qwen2_5_VLForConditionalGeneration",
    "Qwen3VLForConditionalGeneration", "Qwen3VLMoeForConditionalGeneration",
    "Olmo3ForCausalLM", "BertModel", "NomicBertModel", "NomicBertMoEModel",
    "CohereForCausalLM", "GptOssForCausalLM", "DeepseekOCRForCausalLM",
    "DeepseekV3ForCausalLM", "Glm4MoeLiteForCausalLM", "LagunaForCausalLM",
    "GlmOcrForConditionalGeneration", "Lfm2ForCausalLM", "Lfm2MoeForCausalLM",
    "Lfm2VlForConditionalGeneration", "Qwen3NextForCausalLM", "Qwen3_5ForConditionalGeneration",
    "Qwen3_5MoeForConditionalGeneration", "NemotronH_Nano_VL_V2",
    "NemotronH_Nano_Omni_Reasoning_V3", "NemotronHForCausalLM"})
# fs/ggml/type.go `ParseFileType`, after create.go upper-cases the request's `quantize`; a
# value outside these fails mid-stream, after "converting model"
QUANTIZE_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_K_S", "Q4_K_M", "Q4_K")
# envconfig/config.go and server/sched.go: one request at a time per loaded model, and at most
# three loaded models per GPU when OLLAMA_MAX_LOADED_MODELS is unset
DEFAULT_NUM_PARALLEL = 1
DEFAULT_MAX_LOADED_MODELS_PER_GPU = 3

_RELEASE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def parse_version(version: str | None) -> tuple[int, int, int] | None:
    """`0.12.6`, `v0.34.1-rc2` or `0.12.6-demo` as numbers; None for anything else."""
    match = _RELEASE.match((version or "").strip())
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


def _release(version: str | None) -> tuple[int, int, int] | None:
    """The version as numbers; None for unknown ones and builds from source (0.0.0), which are
    the newest source."""
    release = parse_version(version)
    return None if release == (0, 0, 0) else release


def reported_to_refuse_adapters(version: str | None) -> bool:
    """Whether the unconfirmed report says this release refuses adapter models (a hint for the
    plan; registration still offers the adapter)."""
    release = _release(version)
    return release is not None and release >= REPORTED_ADAPTER_REFUSAL


def adapters_fail_to_load(version: str | None, family: str) -> bool:
    """Whether a model of this GGUF architecture, created with an adapter, fails at its first
    chat on this release (the Ollama-engine runner before v0.30.0)."""
    release = _release(version)
    return (release is not None and release < LLAMA_SERVER_RUNNER
            and family in OLLAMA_ENGINE_FAMILIES)


def normalise_quantize(value: str) -> str:
    """The quantize type as Ollama reads it (upper case), or "" for none; ValueError for one
    Ollama would refuse."""
    wanted = (value or "").strip().upper()
    if wanted and wanted not in QUANTIZE_TYPES:
        raise ValueError(f"Ollama cannot quantize to {value!r}: choose one of "
                         f"{', '.join(QUANTIZE_TYPES)}, or none")
    return wanted
