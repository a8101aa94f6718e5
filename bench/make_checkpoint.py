#!/usr/bin/env python3
"""Writes a random-weight Hugging Face Llama checkpoint of a real model's shape
into a scratch directory, for speed and memory measurements (never committed).

    /usr/bin/python3 bench/make_checkpoint.py --shape tinyllama-1.1b --out /tmp/calm-bench/tinyllama
    /usr/bin/python3 bench/make_checkpoint.py --shape llama2-7b --out /tmp/calm-bench/llama2-7b --shards 3

The weights are N(0, 0.02) (biases none, norms 1), stored as BF16 (or --dtype
f16/f32), so activations stay finite over every layer. The tokenizer is the
bundled prose model's (2,048 pieces): the config's vocab_size (32,000) is
larger, as T5's 32,128 embeddings are for its 32,100 pieces, so the embedding
and head have their real size while any text can still be typed.
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

SHAPES = {
    # name: hidden, layers, heads, kv heads, ffn, vocabulary
    "tinyllama-1.1b": (2048, 22, 32, 4, 5632, 32000),
    "llama2-7b": (4096, 32, 32, 32, 11008, 32000),
    "tiny": (64, 2, 4, 2, 128, 32000),  # for a quick check of this script
}

HERE = os.path.dirname(os.path.abspath(__file__))
PROSE = os.path.join(HERE, "..", "resources", "models", "prose")


def tensors_of(hidden, layers, heads, kv_heads, ffn, vocab):
    """(name, shape) in the order Hugging Face's Llama stores them."""
    head_dim = hidden // heads
    yield "model.embed_tokens.weight", (vocab, hidden)
    for i in range(layers):
        p = f"model.layers.{i}."
        yield p + "self_attn.q_proj.weight", (heads * head_dim, hidden)
        yield p + "self_attn.k_proj.weight", (kv_heads * head_dim, hidden)
        yield p + "self_attn.v_proj.weight", (kv_heads * head_dim, hidden)
        yield p + "self_attn.o_proj.weight", (hidden, heads * head_dim)
        yield p + "mlp.gate_proj.weight", (ffn, hidden)
        yield p + "mlp.up_proj.weight", (ffn, hidden)
        yield p + "mlp.down_proj.weight", (hidden, ffn)
        yield p + "input_layernorm.weight", (hidden,)
        yield p + "post_attention_layernorm.weight", (hidden,)
    yield "model.norm.weight", (hidden,)
    yield "lm_head.weight", (vocab, hidden)


def encode(values, dtype):
    if dtype == "f32":
        return values.astype("<f4").tobytes()
    if dtype == "f16":
        return values.astype("<f2").tobytes()
    bits = values.astype(np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even
    return rounded.astype("<u2").tobytes()


def write_file(path, entries, dtype, rng):
    """entries: (name, shape); writes one safetensors file, tensor by tensor."""
    size = {"f32": 4, "f16": 2, "bf16": 2}[dtype]
    header, offset = {}, 0
    for name, shape in entries:
        n = int(np.prod(shape))
        header[name] = {"dtype": dtype.upper(), "shape": list(shape), "data_offsets": [offset, offset + n * size]}
        offset += n * size
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text.encode())
        for name, shape in entries:
            if len(shape) == 1:
                values = np.ones(shape, dtype=np.float32)
            else:
                values = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
            out.write(encode(values, dtype))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--out", required=True, help="directory to write (created; must not be in the repository)")
    ap.add_argument("--dtype", choices=["bf16", "f16", "f32"], default="bf16")
    ap.add_argument("--shards", type=int, default=1, help="split into this many files with an index")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    hidden, layers, heads, kv_heads, ffn, vocab = SHAPES[args.shape]
    os.makedirs(args.out, exist_ok=True)
    prose = json.load(open(os.path.join(PROSE, "config.json")))
    config = {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"],
        "vocab_size": vocab, "hidden_size": hidden, "intermediate_size": ffn,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "hidden_act": "silu", "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "max_position_embeddings": 2048, "tie_word_embeddings": False,
        "bos_token_id": prose["bos_token_id"], "eos_token_id": prose["eos_token_id"],
        "torch_dtype": {"bf16": "bfloat16", "f16": "float16", "f32": "float32"}[args.dtype],
    }
    json.dump(config, open(os.path.join(args.out, "config.json"), "w"), indent=2)
    shutil.copy(os.path.join(PROSE, "tokenizer.model"), os.path.join(args.out, "tokenizer.model"))

    rng = np.random.default_rng(args.seed)
    entries = list(tensors_of(hidden, layers, heads, kv_heads, ffn, vocab))
    if args.shards <= 1:
        write_file(os.path.join(args.out, "model.safetensors"), entries, args.dtype, rng)
    else:
        per = -(-len(entries) // args.shards)
        weight_map = {}
        for s in range(args.shards):
            part = entries[s * per:(s + 1) * per]
            name = f"model-{s + 1:05d}-of-{args.shards:05d}.safetensors"
            write_file(os.path.join(args.out, name), part, args.dtype, rng)
            weight_map.update({t: name for t, _ in part})
        json.dump({"metadata": {}, "weight_map": weight_map},
                  open(os.path.join(args.out, "model.safetensors.index.json"), "w"), indent=2)
    params = sum(int(np.prod(s)) for _, s in entries)
    print(f"{args.out}: {args.shape}, {params / 1e9:.2f} B parameters, {args.dtype}", file=sys.stderr)


if __name__ == "__main__":
    main()
