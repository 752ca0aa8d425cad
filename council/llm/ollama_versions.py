"""What an Ollama version can do with persona adapters.

Ollama v0.34.1 (ollama/ollama #14969) stopped creating models with an `ADAPTER`; models built
with one before still load and serve. Both the registration (which route to take) and the demo
server (which side of that change to imitate) decide from the version string here.
"""

from __future__ import annotations

import re

ADAPTER_MODELS_REMOVED = (0, 34, 1)
_RELEASE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def parse_version(version: str | None) -> tuple[int, int, int] | None:
    """`0.12.6`, `v0.34.1-rc2` or `0.12.6-demo` as numbers; None for anything else."""
    match = _RELEASE.match((version or "").strip())
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


def creates_adapter_models(version: str | None) -> bool | None:
    """Whether `/api/create` still accepts `adapters` there; None when the version says
    nothing (Ollama built from source answers 0.0.0), where only trying it tells."""
    release = parse_version(version)
    if release is None or release == (0, 0, 0):
        return None
    return release < ADAPTER_MODELS_REMOVED

# config.json `architectures[0]` of the causal LMs Ollama's safetensors importer converts
# (ollama/ollama convert/convert.go, LoadModelMetadata)
OLLAMA_IMPORTABLE = frozenset({
    "LlamaForCausalLM", "MixtralForCausalLM", "GemmaForCausalLM", "Gemma2ForCausalLM",
    "Gemma3ForCausalLM", "Phi3ForCausalLM", "Qwen2ForCausalLM", "Olmo3ForCausalLM",
    "CohereForCausalLM", "GptOssForCausalLM", "DeepseekV3ForCausalLM", "Ministral3ForCausalLM"})
