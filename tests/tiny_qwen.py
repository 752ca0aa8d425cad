"""A tiny Qwen2-architecture causal LM with random weights and a locally trained tokenizer.

Nothing is downloaded: the byte-level BPE tokenizer is trained here on a few sentences, carries
Qwen's ChatML special tokens and chat template, and the model is a 2-layer Qwen2 of width 32.
It trains in well under a second per step on a CPU, which is all the LoRA tests need.
"""

from __future__ import annotations

from pathlib import Path

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
          "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "The council answers questions with several personas and one synthesis.",
    "How do I fix a KeyError in my Python dictionary lookup?",
    "Start with the boundaries: what owns the data, and what only reads it?",
    "system user assistant: short answers, careful reasoning, plain words.",
]


def build_tiny_qwen(folder: Path) -> Path:
    """Write config, weights, tokenizer and chat template to `folder`; return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CORPUS * 4, trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>",
                                        pad_token="<|endoftext|>", chat_template=CHATML)
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=1024, tie_word_embeddings=True,
                         # wide enough initial weights that frozen embeddings can still express
                         # confident logits (at 0.02, width 32 caps the loss near ln(vocab))
                         initializer_range=0.3,
                         eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    Qwen2ForCausalLM(config).save_pretrained(str(folder))
    return folder
