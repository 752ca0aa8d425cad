"""Which base model a persona's adapter is trained on, and whether it can be trained here.

An adapter only means something on the weights it was trained on. With the embedded engine
that is the GGUF file the persona answers with (the bundled SmolLM2 by default): transformers
reads it dequantised, so the engine's own file is the training base and the exported adapter
lands back on it. With Ollama or an OpenAI-compatible server the base is
COUNCIL_TRAIN_BASE_MODEL (a transformers folder or a hub id in the local cache).

A GGUF base is converted once into a transformers folder under the model cache (about 30 s
for the bundled model on two cores), so later trainings start in seconds.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from ..config import Settings
from ..llm import engine_files
from ..models import Persona

CONVERTED_MARK = "converted-from.txt"


class BaseModelError(RuntimeError):
    """No usable base model; the message says why and how to fix it."""


def training_base(settings: Settings, persona: Persona | None = None) -> str:
    """The base model (GGUF path, folder or hub id) a persona's adapter is trained on."""
    if settings.backend != "embedded":
        return settings.train_base_model
    if persona is not None and persona.model.endswith(".gguf"):
        return str(Path(persona.model).expanduser())
    worker, _ = engine_files(settings)
    return str(worker)


def is_gguf(base_model: str) -> bool:
    return base_model.endswith(".gguf")


def base_problem(base_model: str, gpu: bool) -> str | None:
    """Why training on `base_model` cannot start on this machine, with the fix; None if it can."""
    if is_gguf(base_model):
        if not Path(base_model).is_file():
            return (f"The base model file {base_model} does not exist. Set "
                    "COUNCIL_ENGINE_WORKER_GGUF (or the persona's model) to a .gguf file.")
        return None
    if Path(base_model).is_dir():
        if not (Path(base_model) / "config.json").is_file():
            return (f"{base_model} is not a transformers model folder (no config.json). Point "
                    "COUNCIL_TRAIN_BASE_MODEL at a folder saved with save_pretrained.")
        return None
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(base_model, "config.json"), str):
        where = "a GPU machine" if gpu else "this machine"
        return (f"The base model {base_model!r} is not on {where}: it is a Hugging Face id "
                "that is not in the local cache, and nothing is downloaded while training. "
                f"Run `huggingface-cli download {base_model}` once, or set "
                "COUNCIL_TRAIN_BASE_MODEL to a local folder, or use the embedded engine "
                "(COUNCIL_BACKEND=embedded), which trains on its own GGUF file.")
    return None


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def transformers_folder(base_model: str, cache_dir: Path) -> str:
    """A folder or hub id transformers can load for `base_model`: a GGUF is converted once."""
    if not is_gguf(base_model):
        return base_model
    source = Path(base_model)
    target = cache_dir / "train-bases" / f"{source.stem}-{_fingerprint(source)}"
    if (target / CONVERTED_MARK).is_file():
        return str(target)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
    # the weights are dequantised already: saved as plain tensors, trainable when reloaded
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        (staging / CONVERTED_MARK).write_text(f"{source.resolve()}\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        staging.replace(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return str(target)
