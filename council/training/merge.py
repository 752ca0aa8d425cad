"""A persona's PEFT adapter merged into its base model, as the safetensors folder Ollama imports.

When an Ollama server refuses a model built from a base plus an ADAPTER, or creates one that
cannot answer (ollama_serving.py), the adapter is folded into the base weights here
(transformers + PEFT on the CPU, in the base's own dtype) and Ollama's importer converts the
merged folder (`/api/create` with `files`). The folder holds only what that importer reads:
config.json, generation_config.json, the tokenizer files and the safetensors weights. Two
things are written where the importer looks rather than where transformers 5 puts them: the
chat template goes into tokenizer_config.json (not chat_template.jinja), and the RoPE base and
scaling are repeated as `rope_theta` / `rope_scaling` beside `rope_parameters` (without them
Ollama silently uses its default RoPE base, 10000 for llama, where SmolLM2 needs 100000).
"""

from __future__ import annotations

import json
import math
import shutil
import struct
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..llm.ollama_versions import OLLAMA_IMPORTABLE
from ..units import human_size
from .base_model import is_gguf

# what Ollama's importer reads besides the weights, each only if present
OLLAMA_FILES = ("config.json", "generation_config.json", "tokenizer.json",
                "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                "model.safetensors.index.json")
TOKENIZERS = ("tokenizer.json", "tokenizer.model")
# architectures whose Ollama converter cannot take RoPE scaling as transformers writes it:
# convert/convert_qwen2.go (v0.33.0-rc2) reads `rope_scaling.factor` as a list (a number fails to
# parse) and panics on any type but "", yarn, mrope and default
PLAIN_ROPE_ONLY = frozenset({"Qwen2ForCausalLM"})
# base files whose content the merged folder carries again (the template moves into
# tokenizer_config.json); what the size estimate adds to the weights
CARRIED_FILES = (*OLLAMA_FILES, "chat_template.jinja")
INDEX = "model.safetensors.index.json"
# `python -m bench.merge --repeats 5` on this machine (2 cores, Intel Xeon, shared with other
# work): SmolLM2-135M as F32 (542 MB) merged in a median of 1.66 s (326 MB/s, weights in the
# page cache; 177 MB/s in a later run while other work loaded the cores), after 3.7 s of
# imports in a fresh process
MERGE_STARTUP_S = 3.7
MERGE_BYTES_PER_S = 326e6
# where the progress bar stands as each stage begins: the stage shares that bench measured
# (load base 0.04, load adapter 0.24, merge 0.30, save 0.43)
STAGES = {"loading the base model": 0.0, "loading the adapter": 0.04, "merging": 0.28,
          "saving the merged model": 0.58}
Progress = Callable[[str, float], None]


class MergeError(ValueError):
    """The adapter cannot be merged into its base; the message says why and what to do."""


@dataclass(frozen=True)
class MergeEstimate:
    """What a merge will cost, read from the base's headers before any weight is loaded."""

    architecture: str
    parameters: int
    size_bytes: int  # the merged folder: the weights in their stored dtype, config, tokenizer
    seconds: float  # on this machine, at bench.merge's rate, imports included

    def describe(self) -> str:
        return (f"≈ {human_size(self.size_bytes)} written and sent to Ollama, about "
                f"{_human_duration(self.seconds)} to merge here")


@dataclass(frozen=True)
class MergedModel:
    folder: Path
    files: dict[str, Path]  # the name Ollama sees -> where it is
    size_bytes: int


def base_folder(base_model: str) -> Path:
    """The local folder of the base weights (a folder, or a hub id already in the local
    Hugging Face cache: nothing is downloaded), checked to be mergeable and importable."""
    if is_gguf(base_model):
        raise MergeError(f"The base model {base_model} is a GGUF file; a merge needs the "
                         "transformers weights (a folder with config.json and *.safetensors).")
    folder = Path(base_model).expanduser()
    if not folder.is_dir():
        folder = _cached_snapshot(base_model)
    if not (folder / "config.json").is_file():
        raise MergeError(f"{folder} is not a transformers model folder (no config.json).")
    if not _weight_files(folder):
        if list(folder.glob("*.bin")) or list(folder.glob("*.pt")):
            raise MergeError(f"{folder} has only PyTorch .bin/.pt weights, and Ollama imports "
                             "safetensors: load it with transformers and save_pretrained it to "
                             "a new folder (transformers writes safetensors), then use that.")
        raise MergeError(f"{folder} has no model*.safetensors weights.")
    config = _read_config(folder)
    quantization = config.get("quantization_config")
    if quantization:
        method = quantization.get("quant_method", "quantized") if isinstance(
            quantization, dict) else "quantized"
        raise MergeError(f"The base model {base_model} is quantized ({method}, "
                         "quantization_config in its config.json); merging needs the "
                         "full-precision weights: point at the unquantized model.")
    architecture = _architecture(config)
    if architecture not in OLLAMA_IMPORTABLE:
        raise MergeError(f"Ollama cannot import {architecture or 'unknown'} models from "
                         f"safetensors (the base model {base_model}); it converts "
                         f"{', '.join(sorted(OLLAMA_IMPORTABLE))}.")
    scaling = _rope_scaling_type(config)
    if architecture in PLAIN_ROPE_ONLY and scaling:
        raise MergeError(f"Ollama cannot import the base model {base_model}: its {architecture} "
                         f"converter reads the RoPE scaling factor as a list and knows no "
                         f"{scaling!r} scaling as transformers writes it, so the import fails "
                         "(or Ollama panics); a merged model of it cannot be served by Ollama.")
    if not any((folder / name).is_file() for name in TOKENIZERS):
        raise MergeError(f"{folder} has no tokenizer.json or tokenizer.model, which Ollama "
                         "needs to import the model.")
    return folder


def estimate_merge(base_model: str) -> MergeEstimate:
    """Size and time of a merge into `base_model`, from file headers only (fast)."""
    folder = base_folder(base_model)
    config = _read_config(folder)
    tensors: dict[str, tuple[str, list[int]]] = {}
    for path in _weight_files(folder):
        tensors.update(_safetensors_header(path))
    if config.get("tie_word_embeddings") and "model.embed_tokens.weight" in tensors:
        tensors.pop("lm_head.weight", None)  # stored twice by some, counted once by transformers
    size = sum(path.stat().st_size for path in _weight_files(folder)) + sum(
        (folder / name).stat().st_size for name in CARRIED_FILES if (folder / name).is_file())
    return MergeEstimate(architecture=_architecture(config),
                         parameters=sum(math.prod(shape) for _, shape in tensors.values()),
                         size_bytes=size,
                         seconds=MERGE_STARTUP_S + size / MERGE_BYTES_PER_S)


def merge_adapter(base_model: str, adapter_dir: Path, target: Path,
                  progress: Progress | None = None) -> MergedModel:
    """Merge the PEFT adapter in `adapter_dir` into `base_model` and write the result to
    `target`, replacing what was there only once the new folder is complete."""
    report = progress or (lambda stage, fraction: None)
    folder = base_folder(base_model)
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise MergeError(f"{adapter_dir} is not a PEFT adapter folder (no adapter_config.json).")
    try:
        import peft  # noqa: F401  (only users who train install it)
    except ImportError:
        raise MergeError("Merging an adapter needs PEFT, which is not installed: "
                         "pip install -r requirements-train.txt") from None
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _write_merged(folder, adapter_dir, staging, report)
        _replace(target, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report("done", 1.0)
    return merged_model(target)


def merged_model(folder: Path) -> MergedModel:
    """The files of a merged folder that Ollama's importer is given."""
    names = [name for name in OLLAMA_FILES if (folder / name).is_file()]
    names += [path.name for path in _weight_files(folder)]
    files = {name: folder / name for name in names}
    return MergedModel(folder, files, sum(path.stat().st_size for path in files.values()))


def _write_merged(folder: Path, adapter_dir: Path, staging: Path, report: Progress) -> None:
    import torch
    from peft import PeftModel
    from peft.utils import get_peft_model_state_dict, load_peft_weights
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report("loading the base model", STAGES["loading the base model"])
    config = _read_config(folder)
    dtype = config.get("dtype") or config.get("torch_dtype")
    model = AutoModelForCausalLM.from_pretrained(
        str(folder), dtype=getattr(torch, dtype) if isinstance(dtype, str) else "auto")
    report("loading the adapter", STAGES["loading the adapter"])
    try:
        with warnings.catch_warnings():
            # missing keys are reported below, with the unexpected ones PEFT drops silently
            warnings.filterwarnings("ignore", "Found missing adapter keys")
            model = PeftModel.from_pretrained(model, str(adapter_dir))
        expected = set(get_peft_model_state_dict(model, save_embedding_layers=False))
        saved = set(load_peft_weights(str(adapter_dir), device="cpu"))
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise MergeError(f"The adapter {adapter_dir} does not fit the base model {folder}: "
                         f"{_first_lines(exc)}") from exc
    if expected != saved:
        missing, unexpected = sorted(expected - saved), sorted(saved - expected)
        raise MergeError(
            f"The adapter {adapter_dir} was not trained on the base model {folder}: "
            + "; ".join(f"{what} {len(keys)} tensors, e.g. {keys[0]}" for what, keys in
                        (("the base has no place for", unexpected),
                         ("the adapter lacks", missing)) if keys)
            + ". Merge it into the base it was trained on (its metadata.json base_model).")
    report("merging", STAGES["merging"])
    try:
        merged = model.merge_and_unload(safe_merge=True)
    except (ValueError, AttributeError) as exc:
        raise MergeError(f"PEFT cannot merge the adapter {adapter_dir}: "
                         f"{_first_lines(exc)}") from exc
    report("saving the merged model", STAGES["saving the merged model"])
    merged.save_pretrained(str(staging))
    AutoTokenizer.from_pretrained(str(folder)).save_pretrained(str(staging),
                                                               save_jinja_files=False)
    _write_ollama_config(staging / "config.json")


def _write_ollama_config(path: Path) -> None:
    """Repeat transformers 5's `rope_parameters` under the keys Ollama's importer reads."""
    config = json.loads(path.read_text(encoding="utf-8"))
    rope = config.get("rope_parameters")
    if isinstance(rope, dict):
        if "rope_theta" in rope:
            config.setdefault("rope_theta", rope["rope_theta"])
        kind = rope.get("rope_type", "default")
        if kind != "default":
            scaling = {key: value for key, value in rope.items() if key != "rope_theta"}
            config.setdefault("rope_scaling", {"type": kind, **scaling})
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _replace(target: Path, staging: Path) -> None:
    """Put `staging` at `target`; an earlier `target` is kept until the rename succeeded."""
    previous = None
    if target.exists():
        previous = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
        target.replace(previous / target.name)
    try:
        staging.replace(target)
    except BaseException:
        if previous is not None:
            (previous / target.name).replace(target)
            previous.rmdir()
        raise
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def _cached_snapshot(base_model: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(base_model, local_files_only=True))
    except HFValidationError:
        raise MergeError(f"The base model {base_model!r} is neither a folder nor a Hugging Face "
                         "model id.") from None
    except LocalEntryNotFoundError:
        raise MergeError(f"The base weights are not on disk: {base_model!r} is not a folder "
                         "and not in the local Hugging Face cache, and nothing is downloaded "
                         f"for a merge. Run `hf download {base_model}` once, or point at a "
                         "local folder.") from None


def _weight_files(folder: Path) -> list[Path]:
    """The safetensors files transformers loads: the index's shards, else model.safetensors."""
    if (folder / INDEX).is_file():
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
        return [folder / name for name in sorted(set(index.get("weight_map", {}).values()))]
    single = folder / "model.safetensors"
    return [single] if single.is_file() else []


def _safetensors_header(path: Path) -> dict[str, tuple[str, list[int]]]:
    """Tensor name -> (dtype, shape), from the JSON header that starts a safetensors file."""
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    return {name: (entry["dtype"], entry["shape"]) for name, entry in header.items()
            if name != "__metadata__"}


def _read_config(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MergeError(f"Cannot read {folder / 'config.json'}: {exc}") from None


def _architecture(config: dict[str, Any]) -> str:
    architectures = config.get("architectures") or [""]
    return str(architectures[0])


def _rope_scaling_type(config: dict[str, Any]) -> str | None:
    """The base's RoPE scaling (transformers 5's `rope_parameters`, or `rope_scaling` as earlier
    versions and the hub's configs write it); None for plain RoPE."""
    for key in ("rope_parameters", "rope_scaling"):
        rope = config.get(key)
        if isinstance(rope, dict):
            kind = rope.get("rope_type") or rope.get("type") or "default"
            if kind != "default":
                return str(kind)
    return None


def _first_lines(exc: BaseException) -> str:
    return " ".join(str(exc).splitlines()[:2]).strip() or type(exc).__name__


def _human_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} min"
