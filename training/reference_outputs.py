#!/usr/bin/env python3
"""Full-model greedy outputs of a shipped model, computed by the PyTorch twin
in float64, for the C++ test that loads the bundled model and must reproduce
them (tests/test_bundled_models.cpp).

    /usr/bin/python3 training/reference_outputs.py resources/models/kjv2web \
        resources/data/kjv2web/test.jsonl resources/data/kjv2web/reference_outputs.jsonl

Each output line: {"input", "ids" (generated, eos included when produced),
"margins" (top-1 minus top-2 logit at each step, so a test can tell a real
disagreement from a near-tie that float32 rounding may flip), "text"}.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from calm import export, tokenizer  # noqa: E402


def greedy_with_margins(model, prompt_ids, max_new_tokens):
    cfg = model.cfg
    ids, margins = [], []
    if model.arch == "t5":
        src = torch.tensor([prompt_ids])
        seq = [cfg.decoder_start_token_id]
        for _ in range(max_new_tokens):
            logits = model(src, torch.tensor([seq]), all_logits=False)["logits"][0, 0, -1]
            top = torch.topk(logits, 2)
            ids.append(int(top.indices[0]))
            margins.append(float(top.values[0] - top.values[1]))
            if ids[-1] == cfg.eos_token_id:
                break
            seq.append(ids[-1])
    else:
        seq = list(prompt_ids)
        for _ in range(max_new_tokens):
            logits = model(torch.tensor([seq]), all_logits=False)["logits"][0, 0, -1]
            top = torch.topk(logits, 2)
            ids.append(int(top.indices[0]))
            margins.append(float(top.values[0] - top.values[1]))
            if ids[-1] == cfg.eos_token_id:
                break
            seq.append(ids[-1])
    return ids, margins


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    model = export.load_model_dir(args.model_dir, dtype=torch.float64)
    sp = tokenizer.load(os.path.join(args.model_dir, "tokenizer.model"))
    with open(args.data) as f:
        examples = [json.loads(line) for line in f if line.strip()][: args.count]
    with torch.no_grad(), open(args.out, "w") as out:
        for ex in examples:
            prompt = tokenizer.encode_prompt(sp, ex["input"], model.arch)
            ids, margins = greedy_with_margins(model, prompt, args.max_new_tokens)
            text_ids = ids[:-1] if ids and ids[-1] == model.cfg.eos_token_id else ids
            out.write(json.dumps({"input": ex["input"], "max_new_tokens": args.max_new_tokens, "ids": ids,
                                  "margins": [round(m, 6) for m in margins], "text": sp.decode(text_ids)}) + "\n")


if __name__ == "__main__":
    main()
