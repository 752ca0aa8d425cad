"""Per-persona LoRA adapters: training data, training, GGUF export and Ollama registration.

The stages follow one another and each is a CLI in `scripts/` and a job on the Training page:
`data.py` (chat pairs written by the local synthesizer in the persona's voice), `train.py`
(unsloth QLoRA on CUDA, or transformers + PEFT anywhere), `gguf_export.py` (PEFT adapter to a
llama.cpp LoRA GGUF) and `register.py` (an Ollama model `persona-<slug>` from base + adapter).
"""
