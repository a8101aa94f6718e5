#!/usr/bin/python3
"""Quality against training time: BLEU of every weight snapshot of a T5 run.

    /usr/bin/python3 training/snapshot_curve.py training/runs/kjv2web [--limit 300]
                     [--test FILE] [--markdown FILE]

train.py --snapshot-minutes N keeps the weights every N minutes in
RUN/snapshots/stepNNNNNN.pt. For each, this decodes the first --limit examples of
the test set greedily with the full model (evaluate.py's batched decoder) and
reports corpus BLEU and ROUGE-L next to the copy baseline on the same examples,
with the step, the training minutes and the target tokens seen, as a Markdown
table (the "what more training buys" curve of MODEL.md).
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import evaluate as E  # noqa: E402
from calm.model import build_model, config_from_dict  # noqa: E402
from calm import tokenizer as tok  # noqa: E402
from train import load_checkpoint  # noqa: E402


def load_snapshot(path):
    snap = load_checkpoint(path)
    model = build_model(config_from_dict(snap["model_config"]))
    model.load_state_dict(snap["model"])
    return model.eval(), snap


def curve(run_dir, rows, batch_size=32, log=None, device="cpu"):
    """One dict per snapshot, oldest first."""
    sp = tok.load(os.path.join(run_dir, "tokenizer.model"))
    inputs = [r["input"] for r in rows]
    refs = [r["reference"] for r in rows]
    out = []
    for path in sorted(glob.glob(os.path.join(run_dir, "snapshots", "step*.pt"))):
        model, snap = load_snapshot(path)
        model.to(device)
        if model.arch != "t5":
            raise SystemExit(f"{path}: snapshot curves are for T5 runs (BLEU); this is {model.arch}")
        t0 = time.time()
        ids = E.t5_generate_all(model, sp, inputs, 128, batch_size)
        m = E.text_metrics([sp.decode(o) for o in ids], refs)
        out.append({"snapshot": os.path.basename(path), "step": snap["step"],
                    "minutes": snap["elapsed"] / 60, "target_tokens": snap["tokens"],
                    "bleu": m["bleu"], "rouge_l": m["rouge_l"]})
        if log:
            log(f"{path}: BLEU {m['bleu']:.2f} ({time.time() - t0:.0f} s)")
    return out


def markdown(points, copy, n, source="the test set"):
    lines = [f"BLEU and ROUGE-L of the full model on the first {n} pairs of {source}, by training time "
             f"(copy baseline on the same pairs: BLEU {copy['bleu']:.2f}, ROUGE-L {copy['rouge_l']:.2f}).",
             "", "| step | minutes | target tokens | BLEU | ROUGE-L |", "|---:|---:|---:|---:|---:|"]
    for p in points:
        lines.append(f"| {p['step']} | {p['minutes']:.0f} | {p['target_tokens']:,} | "
                     f"{p['bleu']:.2f} | {p['rouge_l']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--test", default=os.path.join(E.REPO, E.DEFAULT_TEST["t5"]))
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--markdown", metavar="FILE")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (decoding only)")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = E.read_jsonl(args.test, args.limit)
    points = curve(args.run_dir, rows, args.batch_size, device=args.device,
                   log=lambda m: print(m, file=sys.stderr, flush=True))
    if not points:
        raise SystemExit(f"{args.run_dir}/snapshots: no stepNNNNNN.pt files "
                         "(train with --snapshot-minutes N)")
    copy = E.text_metrics([r["input"] for r in rows], [r["reference"] for r in rows])
    md = markdown(points, copy, len(rows), os.path.relpath(args.test, E.REPO))
    print(md)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(md)


if __name__ == "__main__":
    main()
