"""Per-persona LoRA adapters: training data, training, GGUF export, measuring and serving.

The stages follow one another and each is a `council` command and a job on the Training page:
`data.py` (chat pairs written by the local synthesizer in the persona's voice), `base_model.py`
(which weights to train on: the engine's own GGUF, or COUNCIL_TRAIN_BASE_MODEL), `train.py`
(unsloth QLoRA on CUDA, or transformers + PEFT anywhere), `gguf_export.py` (PEFT adapter to a
llama.cpp LoRA GGUF), `llama_eval.py` (the adapter's held-out loss on llama.cpp) and
`register.py` (served by the embedded engine, Ollama or vLLM).
"""
