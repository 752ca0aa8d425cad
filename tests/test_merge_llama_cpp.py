"""A merged persona model, converted by llama.cpp's own `convert_hf_to_gguf.py`, answers under
llama.cpp as its base plus the adapter does under PEFT.

tests/test_merge.py checks the merged folder under transformers; this follows it one step
further, through the converter a user applies before llama.cpp: its permutation of q/k to
llama.cpp's rotary layout and its reading of the RoPE base from config.json. The converter is
the one in the llama-cpp-python source the Makefile keeps (`.venv/llama.cpp`). The check is on
the change the adapter makes (merged minus base on llama.cpp, against PEFT minus base on
transformers), because the base alone already makes the plain logits agree; its size too (the
slope), which a wrong LoRA scale would move. Both sides are F32, where llama.cpp and transformers
agree best (DESIGN.md). Run with `-s` for the figures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from council.training.merge import merge_adapter
from tests.test_merge import CONVERSATION, correlation, logits, save_adapter

CONVERTER = Path(sys.prefix) / "llama.cpp" / "convert_hf_to_gguf.py"


def to_gguf(folder: Path, outfile: Path) -> Path:
    """The folder as an F32 GGUF, written by llama.cpp's converter in its own process."""
    if not CONVERTER.is_file():
        pytest.fail(f"{CONVERTER} is missing: `make test` extracts it (the .converter target)")
    done = subprocess.run([sys.executable, str(CONVERTER), str(folder), "--outtype", "f32",
                           "--outfile", str(outfile)], capture_output=True, text=True, check=False,
                          timeout=300)
    assert done.returncode == 0, f"convert_hf_to_gguf.py failed:\n{done.stderr[-3000:]}"
    return outfile


def llama_cpp_logits(gguf_path: Path, tokens: list[int]) -> np.ndarray:
    """Every position's logits for `tokens` under llama.cpp, flattened as `logits` flattens."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf_path), logits_all=True, n_ctx=len(tokens) + 8,
                verbose=False)
    try:
        llm.eval(tokens)
        return np.array(llm.scores[:len(tokens)], dtype=np.float32).ravel()
    finally:
        llm.close()


def rope_base(gguf_path: Path) -> float:
    """The RoPE base llama.cpp runs the model with (read from the GGUF, not the config)."""
    from gguf import GGUFReader

    return float(GGUFReader(str(gguf_path)).fields["llama.rope.freq_base"].contents())


@pytest.mark.timeout(400)
def test_converted_merged_model_answers_as_base_plus_adapter(model_cache: Path,
                                                             tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from council.llm.embedded import bundled_model_path
    from council.training.base_model import transformers_folder

    bundled = bundled_model_path()
    base = Path(transformers_folder(str(bundled), model_cache))
    chosen = save_adapter(base, tmp_path / "adapter")
    merged = merge_adapter(str(base), chosen, tmp_path / "merged")
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    tokens = tokenizer.apply_chat_template(CONVERSATION, add_generation_prompt=True,
                                           return_dict=True)["input_ids"]
    peft_change = logits(PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(base)), str(chosen)), tokenizer) - logits(
        AutoModelForCausalLM.from_pretrained(str(base)), tokenizer)
    merged_gguf = to_gguf(merged.folder, tmp_path / "merged.gguf")
    llama_change = (llama_cpp_logits(merged_gguf, tokens)
                    - llama_cpp_logits(to_gguf(base, tmp_path / "base.gguf"), tokens))
    agreement = correlation(llama_change, peft_change)
    slope = float(np.dot(llama_change, peft_change) / np.dot(peft_change, peft_change))
    print(f"\nSmolLM2-135M on llama.cpp, {len(tokens)} positions: change r={agreement:.6f}, "
          f"slope {slope:.4f}, max |PEFT change| {np.abs(peft_change).max():.2f}, "
          f"max |difference of changes| {np.abs(llama_change - peft_change).max():.2e}")
    assert np.abs(peft_change).max() > 1.0, "the adapter must change the answers"
    assert agreement >= 0.99
    assert 0.95 <= slope <= 1.05, "the adapter's scale must survive the conversion"
    assert rope_base(merged_gguf) == rope_base(bundled) == 100000
