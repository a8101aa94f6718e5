"""SentencePiece tokenizers with the two special-token layouts.

T5 models:    pad=0, eos=1, unk=2, no bos   (unigram, like T5's own tokenizer)
Llama models: unk=0, bos=1, eos=2, no pad   (BPE, like Llama's own tokenizer)

The piece count equals the model's vocab_size. The C++ engine appends eos to a
T5 encoder input and prepends bos to a Llama prompt; encode_prompt() below does
the same so PyTorch and C++ see the same ids.
"""
from __future__ import annotations

import io
import os

import sentencepiece as spm

LAYOUTS = {
    "t5": dict(pad_id=0, eos_id=1, unk_id=2, bos_id=-1, model_type="unigram"),
    "llama": dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1, model_type="bpe"),
}


def train_tokenizer(input_path: str, out_path: str, vocab_size: int, layout: str,
                    max_sentences: int = 0, model_type: str = None,
                    normalization: str = "nmt_nfkc"):
    """Train a SentencePiece model on a text file (one sentence/paragraph a line)
    and write it to out_path (the .model file). Deterministic for a given input.
    normalization 'nmt_nfkc' embeds a ~240 KB character map; 'identity' does not."""
    opts = dict(LAYOUTS[layout])
    if model_type:
        opts["model_type"] = model_type
    buf = io.BytesIO()
    kwargs = dict(
        input=input_path,
        model_writer=buf,
        vocab_size=vocab_size,
        character_coverage=1.0,
        num_threads=1,
        max_sentence_length=16384,
        shuffle_input_sentence=True,
        hard_vocab_limit=True,
        minloglevel=2,
        normalization_rule_name=normalization,   # 'identity' keeps the file tiny
        **opts,
    )
    if max_sentences:
        kwargs["input_sentence_size"] = max_sentences
    spm.SentencePieceTrainer.train(**kwargs)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "wb") as f:
        f.write(buf.getvalue())
    sp = load(out_path)
    assert sp.get_piece_size() == vocab_size, (sp.get_piece_size(), vocab_size)
    return sp


def load(path: str) -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_file=path)


def encode_prompt(sp, text: str, arch: str):
    """Ids as the C++ engine feeds them: T5 text + eos, Llama bos + text,
    Qwen2 the text alone (its tokenizer adds no beginning-of-sequence token)."""
    ids = sp.encode(text)
    if arch == "t5":
        return ids + [sp.eos_id()]
    if arch == "qwen2":
        return ids
    return [sp.bos_id()] + ids
