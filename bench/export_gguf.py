#!/usr/bin/env python3
"""Writes a Llama checkpoint directory (config.json, model.safetensors or
shards, tokenizer.model) as one GGUF file, so that llama.cpp can be measured on
the same weights as `calm bench --engine` (docs/performance.md).

    /usr/bin/python3 bench/export_gguf.py --model /tmp/calm-bench/tinyllama --out /tmp/calm-bench/tinyllama-f16.gguf

GGUF (version 3) is written here directly: a header, key/value metadata, one
info record per tensor (dimensions innermost first), then the data, each
tensor aligned to 32 bytes. Matrices are written as F16 (or --type bf16/f32);
norms stay F32. Two things differ from Hugging Face's layout:
- q_proj and k_proj rows are reordered per head from Hugging Face's
  "rotate halves" RoPE layout back to the interleaved pairs llama.cpp rotates;
- the vocabulary must have one entry per embedding row: rows beyond the
  SentencePiece model's pieces become unused tokens.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

GGUF_MAGIC = b"GGUF"
ALIGN = 32
# Value types of GGUF metadata.
U32, I32, F32, STRING, ARRAY = 4, 5, 6, 8, 9
# Tensor types.
TENSOR_TYPES = {"f32": (0, "<f4"), "f16": (1, "<f2"), "bf16": (30, None)}
# SentencePiece piece kinds -> llama.cpp token types.
NORMAL, UNKNOWN, CONTROL, UNUSED, BYTE = 1, 2, 3, 5, 6


def read_safetensors(path):
    """name -> float32 array, for one safetensors file."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        base = 8 + length
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            f.seek(base + begin)
            raw = f.read(end - begin)
            if info["dtype"] == "BF16":
                values = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
            elif info["dtype"] == "F16":
                values = np.frombuffer(raw, "<f2").astype(np.float32)
            elif info["dtype"] == "F32":
                values = np.frombuffer(raw, "<f4")
            else:
                sys.exit(f"{path}: tensor {name}: dtype {info['dtype']} is not F32, F16 or BF16")
            out[name] = values.reshape(info["shape"])
    return out


def checkpoint_files(model):
    index = os.path.join(model, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            return sorted({os.path.join(model, v) for v in json.load(f)["weight_map"].values()})
    return [os.path.join(model, "model.safetensors")]


def unpermute(w, heads):
    """Hugging Face q/k rows (per head: first halves, then second halves of
    each rotated pair) -> interleaved pairs, as llama.cpp's converter does."""
    rows, cols = w.shape
    return w.reshape(heads, 2, rows // heads // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def vocabulary(model, size):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=os.path.join(model, "tokenizer.model"))
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        types.append(UNKNOWN if sp.is_unknown(i) else CONTROL if sp.is_control(i)
                     else BYTE if sp.is_byte(i) else UNUSED if sp.is_unused(i) else NORMAL)
    for i in range(len(tokens), size):
        tokens.append(f"<unused{i}>")
        scores.append(-1e9)
        types.append(UNUSED)
    return tokens, scores, types, sp


class Writer:
    def __init__(self):
        self.kv = bytearray()
        self.kv_count = 0

    @staticmethod
    def string(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def add(self, key, kind, value):
        self.kv += self.string(key) + struct.pack("<I", kind)
        if kind == STRING:
            self.kv += self.string(value)
        elif kind == ARRAY:
            elem, items = value
            self.kv += struct.pack("<IQ", elem, len(items))
            for item in items:
                self.kv += self.string(item) if elem == STRING else struct.pack({U32: "<I", I32: "<i", F32: "<f"}[elem], item)
        else:
            self.kv += struct.pack({U32: "<I", I32: "<i", F32: "<f"}[kind], value)
        self.kv_count += 1


def encode(values, kind):
    if kind == "bf16":
        bits = np.ascontiguousarray(values, np.float32).view(np.uint32)
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2").tobytes()
    return np.ascontiguousarray(values).astype(TENSOR_TYPES[kind][1]).tobytes()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--type", choices=sorted(TENSOR_TYPES), default="f16")
    args = ap.parse_args()

    with open(os.path.join(args.model, "config.json")) as f:
        config = json.load(f)
    if config.get("model_type") != "llama":
        sys.exit(f"{args.model}/config.json: model_type {config.get('model_type')!r}; only llama is exported")
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    layers, vocab = config["num_hidden_layers"], config["vocab_size"]

    w = Writer()
    w.add("general.architecture", STRING, "llama")
    w.add("general.name", STRING, os.path.basename(os.path.normpath(args.model)))
    w.add("general.alignment", U32, ALIGN)
    w.add("llama.context_length", U32, config.get("max_position_embeddings", 2048))
    w.add("llama.embedding_length", U32, hidden)
    w.add("llama.block_count", U32, layers)
    w.add("llama.feed_forward_length", U32, config["intermediate_size"])
    w.add("llama.rope.dimension_count", U32, hidden // heads)
    w.add("llama.attention.head_count", U32, heads)
    w.add("llama.attention.head_count_kv", U32, kv_heads)
    w.add("llama.attention.layer_norm_rms_epsilon", F32, config.get("rms_norm_eps", 1e-6))
    w.add("llama.rope.freq_base", F32, config.get("rope_theta", 10000.0))
    w.add("llama.vocab_size", U32, vocab)
    tokens, scores, types, sp = vocabulary(args.model, vocab)
    w.add("tokenizer.ggml.model", STRING, "llama")
    w.add("tokenizer.ggml.tokens", ARRAY, (STRING, tokens))
    w.add("tokenizer.ggml.scores", ARRAY, (F32, scores))
    w.add("tokenizer.ggml.token_type", ARRAY, (I32, types))
    for key, value in (("bos", sp.bos_id()), ("eos", sp.eos_id()), ("unknown", sp.unk_id())):
        if value >= 0:
            w.add(f"tokenizer.ggml.{key}_token_id", U32, value)

    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    per_layer = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                 "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
                 "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                 "mlp.down_proj": "ffn_down"}
    for i in range(layers):
        for hf, gg in per_layer.items():
            names[f"model.layers.{i}.{hf}.weight"] = f"blk.{i}.{gg}.weight"

    # Tensor infos need every tensor's size first: read shapes from the headers.
    shapes = {}
    for path in checkpoint_files(args.model):
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            for name, info in json.loads(f.read(length)).items():
                if name != "__metadata__":
                    shapes[name] = info["shape"]
    order = [n for n in names if n in shapes]
    missing = [n for n in shapes if n not in names]
    if missing:
        sys.exit(f"{args.model}: tensors with no GGUF name: {', '.join(missing[:5])}")
    infos, offset = bytearray(), 0
    kinds = {}
    for name in order:
        shape = shapes[name]
        kind = "f32" if len(shape) == 1 else args.type
        kinds[name] = kind
        nbytes = int(np.prod(shape)) * (4 if kind == "f32" else 2)
        infos += Writer.string(names[name]) + struct.pack("<I", len(shape))
        infos += b"".join(struct.pack("<Q", d) for d in reversed(shape))
        infos += struct.pack("<IQ", TENSOR_TYPES[kind][0], offset)
        offset += (nbytes + ALIGN - 1) // ALIGN * ALIGN

    tmp = args.out + ".part"
    with open(tmp, "wb") as out:
        out.write(GGUF_MAGIC + struct.pack("<IQQ", 3, len(order), w.kv_count))
        out.write(w.kv)
        out.write(infos)
        out.write(b"\0" * ((-out.tell()) % ALIGN))
        for path in checkpoint_files(args.model):
            tensors = read_safetensors(path)
            # Data must follow the info order: write this shard's tensors at their offsets.
            data_start = out.tell() if path == checkpoint_files(args.model)[0] else data_start
            position = 0
            for name in order:
                shape = shapes[name]
                nbytes = int(np.prod(shape)) * (4 if kinds[name] == "f32" else 2)
                if name in tensors:
                    values = tensors[name]
                    if name.endswith("q_proj.weight"):
                        values = unpermute(values, heads)
                    elif name.endswith("k_proj.weight"):
                        values = unpermute(values, kv_heads)
                    out.seek(data_start + position)
                    out.write(encode(values, kinds[name]))
                position += (nbytes + ALIGN - 1) // ALIGN * ALIGN
            del tensors
        out.truncate(data_start + offset)
    os.replace(tmp, args.out)
    print(f"{args.out}: {len(order)} tensors, {offset / 1e9:.2f} GB of {args.type} data")


if __name__ == "__main__":
    main()
