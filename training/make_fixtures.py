#!/usr/bin/python3
"""Generate the tiny random models the C++ parity tests load.

    /usr/bin/python3 training/make_fixtures.py [--out tests/fixtures/models] [--only NAME ...]

Deterministic: every fixture has a fixed seed; a seed is skipped (seed + 1000,
+2000, ...) until, in float64 from the stored (rounded) weights, every exit's
top-1 vs top-2 logit margin exceeds MIN_MARGIN at every teacher-forced position
and every position of the full model's greedy path, so argmax cannot flip on
rounding in the engine's F32 arithmetic, and the greedy path has at least 4
distinct tokens (a path that repeats one token would hide K/V cache bugs).

Each fixture directory: config.json, model.safetensors, tokenizer.model,
expected.json (prompt, prompt_ids, teacher_ids, greedy_ids, greedy_text,
max_new_tokens) and expected.safetensors (F32): layer_logits (L, T, V),
layer_hidden (L, T, d), classifier_probs (L, T) when there is a head,
encoder_output (S, d) for T5.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

from calm.model import (T5Config, LlamaConfig, Qwen2Config, build_model, greedy_generate)  # noqa: E402
from calm.export import save_model_dir, DTYPE_BY_NAME  # noqa: E402
from calm.safetensors_io import save_file  # noqa: E402
from calm import tokenizer as tok  # noqa: E402

REPO = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures", "models")
TEXT = os.path.join(HERE, "fixtures_text.txt")
VOCAB = 128
MAX_NEW = 12
MIN_MARGIN = 1e-3

PROMPT = "And God said, Let there be light"
T5_TARGET = "and there was light: and God saw the light"
LLAMA_MORE = ": and there was light."

T5_GATED = dict(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=3,
                num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=20,
                feed_forward_proj="gated-gelu", tie_word_embeddings=False, n_positions=64)
T5_RELU = dict(T5_GATED, feed_forward_proj="relu", tie_word_embeddings=True)
LLAMA_GQA = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                 num_attention_heads=4, num_key_value_heads=2, rope_theta=10000.0,
                 max_position_embeddings=64, tie_word_embeddings=False)
LLAMA_TIED = dict(LLAMA_GQA, num_key_value_heads=4, tie_word_embeddings=True)
# Llama 3.2 style: llama3 rope scaling (original context 32, so with head_dim 16
# the frequencies fall in all three bands: kept, blended, divided), head_dim
# stated and not hidden_size / heads, several eos ids, tied, and an embedding
# padded past the tokenizer's 128 pieces.
LLAMA3_STYLE = dict(LLAMA_GQA, vocab_size=VOCAB + 8, head_dim=16, tie_word_embeddings=True,
                    eos_token_id=[2, VOCAB + 3],
                    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                  "high_freq_factor": 4.0, "original_max_position_embeddings": 32})
LLAMA_ROPE_LINEAR = dict(LLAMA_GQA, rope_scaling={"type": "linear", "factor": 4.0})
# Llama with attention_bias (q, k, v and o) and mlp_bias (gate, up, down).
LLAMA_BIAS = dict(LLAMA_GQA, attention_bias=True, mlp_bias=True)
# Qwen2 / Qwen2.5 0.5B style: q/k/v biases (no o, no MLP bias), rope_theta 1e6,
# tied, grouped-query, a sliding_window stated but switched off, no bos in the prompt.
QWEN2_STYLE = dict(LLAMA_GQA, rope_theta=1000000.0, tie_word_embeddings=True, sliding_window=16,
                   use_sliding_window=False, max_window_layers=3)

# family -> (architecture, config kwargs, classifier head, seed, stored dtypes).
# A family with several dtypes gets one directory per dtype (name-f32, -f16,
# -bf16) holding the SAME weights (the F32 ones rounded); a seed is accepted
# only when every member passes the checks.
FAMILIES = {
    "t5-gated-untied": ("t5", T5_GATED, True, 11, ["F32", "F16", "BF16"]),
    "t5-relu-tied": ("t5", T5_RELU, False, 12, ["F32"]),
    "llama-gqa-untied": ("llama", LLAMA_GQA, True, 21, ["F32", "F16", "BF16"]),
    "llama-tied": ("llama", LLAMA_TIED, False, 22, ["F32"]),
    "llama3-style": ("llama", LLAMA3_STYLE, False, 23, ["BF16"]),
    "llama-rope-linear": ("llama", LLAMA_ROPE_LINEAR, False, 24, ["F16"]),
    "llama-bias": ("llama", LLAMA_BIAS, False, 25, ["F32"]),
    "qwen2-style": ("qwen2", QWEN2_STYLE, False, 26, ["BF16"]),
}
CONFIGS = {"t5": T5Config, "llama": LlamaConfig, "qwen2": Qwen2Config}
TOKENIZER_LAYOUT = {"t5": "t5", "llama": "llama", "qwen2": "llama"}  # Qwen2: the Llama layout, no bos added


def fixture_names(family):
    dtypes = FAMILIES[family][4]
    if len(dtypes) == 1:
        return {family: dtypes[0]}
    return {f"{family}-{dt.lower()}": dt for dt in dtypes}


FIXTURES = {n: fam for fam in FAMILIES for n in fixture_names(fam)}  # name -> family


def init_weights(model, seed):
    """Larger-than-usual random weights so logits are well separated:
    linear std 1/sqrt(fan_in) (times 1.5 for lm_head, 2.5 for the projections
    that write into the residual stream, so a tied model does not just echo its
    input token), embeddings
    std 1, norm weights uniform in [0.5, 1.5], relative bias std 1, linear
    biases std 0.5 (as large as a product's typical entry, so that a bias left
    out or added twice shows in every logit)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("relative_attention_bias.weight"):
                p.copy_(torch.randn(p.shape, generator=g))
            elif "norm" in name:
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif name in ("shared.weight", "model.embed_tokens.weight"):
                p.copy_(torch.randn(p.shape, generator=g))
            elif name == "classifier.weight":
                p.copy_(torch.randn(p.shape, generator=g) * 0.25 / math.sqrt(p.shape[0]))
            elif name == "classifier.bias":
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            elif name.endswith("_proj.bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            else:  # nn.Linear (out, in)
                scale = 1.5 if name == "lm_head.weight" else 1.0
                if name.endswith(("o.weight", "wo.weight", "o_proj.weight", "down_proj.weight")):
                    scale = 2.5   # layers write loudly into the residual stream
                p.copy_(torch.randn(p.shape, generator=g) * scale / math.sqrt(p.shape[1]))


def round_to(model, dtype_name):
    """Cast every weight to the stored dtype and back (references use these)."""
    dt = DTYPE_BY_NAME[dtype_name]
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dt).to(p.dtype))


def min_margin(logits):
    top2 = logits.topk(2, dim=-1).values
    return float((top2[..., 0] - top2[..., 1]).min())


@torch.no_grad()
def references(model, sp, arch):
    """All expected values, computed in float64."""
    prompt_ids = tok.encode_prompt(sp, PROMPT, arch)
    if arch == "t5":
        teacher_ids = [model.cfg.decoder_start_token_id] + sp.encode(T5_TARGET)[:7]
    else:
        teacher_ids = prompt_ids + sp.encode(LLAMA_MORE)[:4]
    greedy = greedy_generate(model, prompt_ids, MAX_NEW)
    x = torch.tensor([prompt_ids])
    if arch == "t5":
        out = model(x, torch.tensor([teacher_ids]))
        # every exit along the greedy path (decoder inputs: start + greedy[:-1])
        path = model(x, torch.tensor([[model.cfg.decoder_start_token_id] + greedy]))["logits"]
    else:
        out = model(torch.tensor([teacher_ids]))
        path = model(torch.tensor([prompt_ids + greedy]))["logits"]
    ref = {
        "layer_logits": out["logits"][:, 0],
        "layer_hidden": out["hidden"][:, 0],
    }
    if model.classifier is not None:
        ref["classifier_probs"] = model.classifier(out["hidden"][:, 0])
    if arch == "t5":
        ref["encoder_output"] = out["encoder_output"][0]
    margin = min(min_margin(out["logits"]), min_margin(path))
    meta = {"prompt": PROMPT, "prompt_ids": prompt_ids, "teacher_ids": teacher_ids,
            "greedy_ids": greedy, "max_new_tokens": MAX_NEW,
            # ids past the tokenizer (a padded embedding) carry no text
            "greedy_text": sp.decode([i for i in greedy if i < sp.get_piece_size()])}
    return ref, meta, margin


def train_tokenizers(workdir):
    paths = {}
    for layout in ("t5", "llama"):
        p = os.path.join(workdir, f"{layout}.model")
        tok.train_tokenizer(TEXT, p, VOCAB, layout, normalization="identity")
        paths[layout] = p
    return paths


def make_family(family, out_root, tok_paths, only=None, verbose=True):
    """Write the fixtures of one family (all of them, or the names in `only`)."""
    arch, kwargs, head, seed, _ = FAMILIES[family]
    names = fixture_names(family)
    sp = tok.load(tok_paths[TOKENIZER_LAYOUT[arch]])
    for attempt in range(50):
        s = seed + 1000 * attempt
        results = {}
        for name, dtype_name in names.items():
            torch.manual_seed(s)
            cfg = CONFIGS[arch](**kwargs)
            model = build_model(cfg)
            if head:
                model.add_classifier()
            init_weights(model, s)
            round_to(model, dtype_name)
            ref64 = model.double().eval()
            ref, meta, margin = references(ref64, sp, arch)
            # margins, and a greedy path that neither stops at once nor repeats one token
            if margin <= MIN_MARGIN or len(set(meta["greedy_ids"])) < 4:
                break
            results[name] = (dtype_name, ref64, ref, meta, margin)
        if len(results) == len(names):
            break
    else:
        raise RuntimeError(f"{family}: no seed passed the checks")
    written = []
    for name, (dtype_name, ref64, ref, meta, margin) in results.items():
        if only and name not in only:
            continue
        d = os.path.join(out_root, name)
        os.makedirs(d, exist_ok=True)
        save_model_dir(ref64.float(), d, tokenizer_path=tok_paths[TOKENIZER_LAYOUT[arch]], dtype=dtype_name,
                       metadata={"fixture": name, "seed": str(s)})
        save_file({k: v.float().contiguous() for k, v in ref.items()},
                  os.path.join(d, "expected.safetensors"))
        meta.update({"seed": s, "min_margin": margin, "weights_dtype": dtype_name})
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        if verbose:
            print(f"{name}: seed {s}, min margin {margin:.4f}, greedy {meta['greedy_ids']} "
                  f"{meta['greedy_text']!r}")
        written.append(d)
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--only", nargs="*", help="fixture names (default: all)")
    a = ap.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    names = a.only or list(FIXTURES)
    for n in names:
        if n not in FIXTURES:
            ap.error(f"unknown fixture {n!r}; known: {', '.join(FIXTURES)}")
    with tempfile.TemporaryDirectory() as tmp:
        tok_paths = train_tokenizers(tmp)
        for fam in FAMILIES:
            wanted = [n for n in names if FIXTURES[n] == fam]
            if wanted:
                make_family(fam, a.out, tok_paths, only=set(wanted))


if __name__ == "__main__":
    main()
