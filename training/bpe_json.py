#!/usr/bin/python3
"""A small BPE trainer that writes Hugging Face tokenizer.json files.

    /usr/bin/python3 training/bpe_json.py [--text training/fixtures_text.txt]
        [--out tests/fixtures/tokenizers] [--merges 300]

Writes the layouts public checkpoints use, so the C++ reader can be tested
against the reference implementation (tests/tokenizer_reference) without
downloading any checkpoint:

  bytelevel-llama3.json   Split (Llama 3 regex) + ByteLevel, ignore_merges,
                          special tokens <|begin_of_text|> <|end_of_text|> and an
                          lstrip/rstrip added token
  bytelevel-gpt2.json     ByteLevel with its built-in GPT-2 regex (SmolLM style),
                          add_prefix_space
  bytelevel-qwen2.json    NFC normalizer + Split (Qwen2 regex) + ByteLevel
  bytelevel-smollm.json   Digits (one by one) + ByteLevel with the GPT-2 regex (SmolLM2 style)
  metaspace-legacy.json   Llama 2 / TinyLlama / Mistral style: Prepend + Replace
                          normalizers, no pre-tokenizer, byte fallback, fuse_unk,
                          Replace/ByteFallback/Fuse/Strip decoders
  metaspace-pretok.json   the newer form of the same: Metaspace pre-tokenizer
                          (prepend_scheme first, split false) and decoder
  metaspace-split.json    Metaspace splitting at every word start (prepend_scheme always)

Training is plain BPE over word counts (most frequent adjacent pair first, ties
broken by the pair itself, so the output is deterministic). The training split
of the text is simpler than the regexes written into the files; that only
changes which merges are learned, not how the file is applied.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPACE_MARK = "\u2581"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from bytes to printable characters (the ByteLevel alphabet)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


def learn_merges(word_counts: dict[tuple[str, ...], int], n_merges: int) -> list[tuple[str, str]]:
    words = {w: c for w, c in word_counts.items()}
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        joined = best[0] + best[1]
        new_words = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(joined)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + c
        words = new_words
    return merges


def added(id_: int, content: str, special: bool = True, lstrip: bool = False, rstrip: bool = False) -> dict:
    return {"id": id_, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": False, "special": special}


def bpe_model(vocab: dict[str, int], merges, **extra) -> dict:
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
             "vocab": vocab, "merges": [[a, b] for a, b in merges]}
    model.update(extra)
    return model


def byte_level_files(text: str, n_merges: int) -> dict[str, dict]:
    b2u = bytes_to_unicode()
    counts = collections.Counter()
    for word in re.findall(r" ?\w+| ?[^\w\s]+|\s+", text):
        counts[tuple(b2u[b] for b in word.encode("utf-8"))] += 1
    merges = learn_merges(counts, n_merges)
    vocab = {b2u[b]: b for b in range(256)}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    specials = ["<|begin_of_text|>", "<|end_of_text|>"]
    n = len(vocab)
    added_tokens = [added(n, specials[0]), added(n + 1, specials[1]),
                    added(n + 2, "<|tool|>", special=False, lstrip=True, rstrip=True)]
    full_vocab = dict(vocab)
    for t in added_tokens:
        full_vocab[t["content"]] = t["id"]

    def file(pre_tokenizer, normalizer=None, ignore_merges=False, post=None):
        return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
                "normalizer": normalizer, "pre_tokenizer": pre_tokenizer, "post_processor": post,
                "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
                "model": bpe_model(full_vocab, merges, ignore_merges=ignore_merges)}

    def split(regex):
        return {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}

    byte_level_plain = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
    llama3_post = {"type": "TemplateProcessing",
                   "single": [{"SpecialToken": {"id": specials[0], "type_id": 0}},
                              {"Sequence": {"id": "A", "type_id": 0}}],
                   "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                   "special_tokens": {specials[0]: {"id": specials[0], "ids": [n], "tokens": [specials[0]]}}}
    return {
        "bytelevel-llama3.json": file({"type": "Sequence", "pretokenizers": [split(LLAMA3_REGEX), byte_level_plain]},
                                      ignore_merges=True, post=llama3_post),
        "bytelevel-gpt2.json": file({"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                                     "use_regex": True}),
        "bytelevel-qwen2.json": file({"type": "Sequence", "pretokenizers": [split(QWEN2_REGEX), byte_level_plain]},
                                     normalizer={"type": "NFC"}),
        "bytelevel-smollm.json": file({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}),
    }


def metaspace_files(text: str, n_merges: int) -> dict[str, dict]:
    counts = collections.Counter()
    for line in text.splitlines():
        marked = SPACE_MARK + line.replace(" ", SPACE_MARK)
        for word in re.findall(SPACE_MARK + "?[^" + SPACE_MARK + "]+", marked):
            counts[tuple(word)] += 1
    merges = learn_merges(counts, n_merges)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for ch in sorted({ch for w in counts for ch in w}):
        vocab.setdefault(ch, len(vocab))
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    added_tokens = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")]
    model = bpe_model(vocab, merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True)
    legacy = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
              "normalizer": {"type": "Sequence", "normalizers": [
                  {"type": "Prepend", "prepend": SPACE_MARK},
                  {"type": "Replace", "pattern": {"String": " "}, "content": SPACE_MARK}]},
              "pre_tokenizer": None, "post_processor": None,
              "decoder": {"type": "Sequence", "decoders": [
                  {"type": "Replace", "pattern": {"String": SPACE_MARK}, "content": " "},
                  {"type": "ByteFallback"}, {"type": "Fuse"},
                  {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
              "model": model}
    pretok = dict(legacy, normalizer=None,
                  pre_tokenizer={"type": "Metaspace", "replacement": SPACE_MARK, "prepend_scheme": "first",
                                 "split": False},
                  decoder={"type": "Sequence", "decoders": [
                      {"type": "Metaspace", "replacement": SPACE_MARK, "prepend_scheme": "first", "split": False},
                      {"type": "ByteFallback"}, {"type": "Fuse"}]})
    split = dict(pretok, pre_tokenizer={"type": "Metaspace", "replacement": SPACE_MARK, "prepend_scheme": "always",
                                        "split": True},
                 decoder={"type": "Metaspace", "replacement": SPACE_MARK, "prepend_scheme": "always", "split": True})
    return {"metaspace-legacy.json": legacy, "metaspace-pretok.json": pretok, "metaspace-split.json": split}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--text", default=os.path.join(HERE, "fixtures_text.txt"))
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "tokenizers"))
    ap.add_argument("--merges", type=int, default=300)
    args = ap.parse_args()
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    os.makedirs(args.out, exist_ok=True)
    files = {**byte_level_files(text, args.merges), **metaspace_files(text, args.merges)}
    for name, content in files.items():
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            json.dump(content, f, ensure_ascii=False, indent=1)
            f.write("\n")
        print(f"{name}: {len(content['model']['vocab'])} tokens, {len(content['model']['merges'])} merges")


if __name__ == "__main__":
    main()
