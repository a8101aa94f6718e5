#!/usr/bin/env python3
"""Writes a calibration losses file for `calm calibrate --losses` (docs/losses-format.md).

Standard library only. Replace `decode` with your engine: for each calibration
example, the full model's output and the output at every lambda of the grid.
Run as a script, it writes a small made-up file: 40 examples whose early
outputs lose their last word from some lambda down, so that the exact-match
loss at each lambda is known in advance.

    python3 write_losses.py table.jsonl
    calm calibrate --losses table.jsonl --model kjv2web --metric exact --delta 0.2 --out thresholds.json
"""
import json
import random
import sys

LAMBDAS = [round(1 - 0.1 * i, 2) for i in range(11)]  # 1.0, 0.9, ..., 0.0: from 1 (the full model) down

# The exit rule the outputs were decoded with (as in a thresholds file).
SETTINGS = {"measure": "softmax", "tau": 4.0, "max_new_tokens": 16,
            "first_exit_layer": 1, "check_interval": 1, "kv_mode": "propagate"}


def write_losses(path, examples, model_name, model_hash=None):
    """examples: dicts with 'full' (text) and 'early' (one text per lambda, in
    the order of LAMBDAS); optional 'reference' (text) and 'seconds' (one
    decode time per lambda, the lambda-1 one the full model's)."""
    model = {"name": model_name}
    if model_hash:
        model["hash"] = model_hash  # CALM Studio's hash of model.safetensors; else give calm --model
    header = {"calm_losses": 1, "kind": "outputs", "lambdas": LAMBDAS, "settings": SETTINGS, "model": model}
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for i, ex in enumerate(examples):
            if len(ex["early"]) != len(LAMBDAS):
                raise ValueError(f"example {i}: {len(ex['early'])} early outputs for {len(LAMBDAS)} lambdas")
            line = {"id": i, "full": ex["full"], "early": ex["early"]}
            for key in ("reference", "seconds"):
                if key in ex:
                    line[key] = ex[key]
            f.write(json.dumps(line, ensure_ascii=False) + "\n")


def made_up_examples(n=40, seed=0):
    """Example i agrees with the full output down to lambda index breaks[i]
    (exclusive), then drops its last word: an exact-match loss of 0 above,
    1 from there down."""
    rng = random.Random(seed)
    words = "in the beginning god created the heaven and the earth".split()
    examples, breaks = [], []
    for i in range(n):
        full = " ".join(words[: 4 + i % 6])
        cut = rng.randint(1, len(LAMBDAS))  # lambda 1 itself always agrees
        early = [full if p < cut else full.rsplit(" ", 1)[0] for p in range(len(LAMBDAS))]
        seconds = [1.0 - 0.05 * p for p in range(len(LAMBDAS))]
        examples.append({"full": full, "early": early, "seconds": seconds})
        breaks.append(cut)
    return examples, breaks


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: write_losses.py OUT.jsonl")
    examples, _ = made_up_examples()
    write_losses(sys.argv[1], examples, "made-up")
