"""Tokenizer of the VLM2 language model: byte-level BPE trained on the benchmark's texts.

Digits are split one per token so numbers ("3.2", "215") are spelled digit by digit, and the
byte-level decoder returns exactly the text that was encoded. Prompts are
`<|bos|> question <|answer|>` and targets `answer <|eos|>`.

Example:
    >>> tok = build_tokenizer(["How many chairs are in the room?", "3.2", "B"], vocab_size=300)
    >>> tok.decode(tok("12.5")["input_ids"])
    '12.5'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS, ANSWER = "<|pad|>", "<|bos|>", "<|eos|>", "<|answer|>"
SPECIAL_TOKENS = [PAD, BOS, EOS, ANSWER]
IGNORE_INDEX = -100


def build_tokenizer(texts: Iterable[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on `texts`; the 256 byte symbols and 4 special tokens are always in."""
    if vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ValueError(f"build_tokenizer: vocab_size={vocab_size} must be >= {256 + len(SPECIAL_TOKENS)} (bytes + specials)")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS,
                                   additional_special_tokens=[ANSWER])


def _ids(tokenizer: PreTrainedTokenizerFast, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def prompt_ids(tokenizer: PreTrainedTokenizerFast, question: str) -> list[int]:
    return [tokenizer.bos_token_id, *_ids(tokenizer, question.strip()), tokenizer.convert_tokens_to_ids(ANSWER)]


def training_batch(tokenizer: PreTrainedTokenizerFast, questions: Sequence[str], answers: Sequence[str],
                   device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Right-padded input_ids / attention_mask / labels (loss only on answer tokens and EOS)."""
    if len(questions) != len(answers):
        raise ValueError(f"training_batch: {len(questions)} questions but {len(answers)} answers")
    rows, labels = [], []
    for q, a in zip(questions, answers):
        p, t = prompt_ids(tokenizer, q), [*_ids(tokenizer, a.strip()), tokenizer.eos_token_id]
        rows.append(p + t)
        labels.append([IGNORE_INDEX] * len(p) + t)
    width = max(map(len, rows))
    pad = tokenizer.pad_token_id
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
    lab = torch.tensor([r + [IGNORE_INDEX] * (width - len(r)) for r in labels], device=device)
    return {"input_ids": ids, "attention_mask": mask, "labels": lab}


def prompt_batch(tokenizer: PreTrainedTokenizerFast, questions: Sequence[str],
                 device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Left-padded prompts so that every row ends with the answer marker (for batched greedy decoding)."""
    rows = [prompt_ids(tokenizer, q) for q in questions]
    width, pad = max(map(len, rows)), tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
    return {"input_ids": ids, "attention_mask": mask}


__all__ = ["build_tokenizer", "training_batch", "prompt_batch", "prompt_ids", "IGNORE_INDEX", "SPECIAL_TOKENS"]
