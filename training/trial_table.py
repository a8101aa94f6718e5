#!/usr/bin/python3
"""Configuration trials side by side: held-out loss against wall time.

    /usr/bin/python3 training/trial_table.py training/runs/trials/t1-base ... [--markdown FILE]

Reads each run's log.txt (train.py stage1 --minutes N, checkpoints every few
minutes) and reports, per run, the settings it overrode (--set), the held-out
top-layer cross-entropy at every checkpoint with its minute, and the final one.
Runs with different tokenizers are compared per word: nats/token times the
run's tokens per whitespace word on the held-out references.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

STEP_RE = re.compile(r"step (\d+)/\S+ .*\| ([\d.]+) min$")
CKPT_RE = re.compile(r"checkpoint step (\d+): held-out CE per layer ([\d. ]+)$")
DONE_RE = re.compile(r"stage1 done: step (\d+), (\d+) target tokens, ([\d.]+) min; held-out CE per layer ([\d. ]+)$")


def parse_log(text):
    """settings, [(minute, top-layer CE)], final dict."""
    settings = " ".join(dict.fromkeys(re.findall(r"--set (\S+)", text))) or "(config as is)"
    minute_at = {}
    points, final = [], None
    last_min = 0.0
    for line in text.splitlines():
        m = STEP_RE.search(line)
        if m:
            minute_at[int(m.group(1))] = last_min = float(m.group(2))
        m = CKPT_RE.search(line)
        if m:
            points.append((last_min, float(m.group(2).split()[-1])))
        m = DONE_RE.search(line)
        if m:
            final = {"step": int(m.group(1)), "tokens": int(m.group(2)),
                     "minutes": float(m.group(3)), "ce": float(m.group(4).split()[-1])}
    return settings, points, final


def tokens_per_word(tokenizer_path, texts):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=tokenizer_path)
    return sum(len(sp.encode(t)) for t in texts) / max(1, sum(len(t.split()) for t in texts))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--heldout", default="training/data/work/kjv2web/train.jsonl",
                    help="pairs whose every 200th reference is the held-out split")
    ap.add_argument("--markdown", metavar="FILE")
    args = ap.parse_args(argv)
    from calm import data as D
    refs = [b for _, b in D.split_heldout(D.read_pairs(args.heldout), 200)[1]]
    lines = ["| trial | settings | steps | target tokens | held-out CE at checkpoints (min: nats/token) "
             "| final nats/token | tokens/word | final nats/word |",
             "|---|---|---:|---:|---|---:|---:|---:|"]
    for run in args.runs:
        settings, points, final = parse_log(open(os.path.join(run, "log.txt")).read())
        if final is None:
            raise SystemExit(f"{run}/log.txt: no 'stage1 done' line (still running?)")
        tpw = tokens_per_word(os.path.join(run, "tokenizer.model"), refs)
        curve = ", ".join(f"{m:.0f}: {ce:.2f}" for m, ce in points)
        lines.append(f"| {os.path.basename(run)} | {settings} | {final['step']} | {final['tokens']:,} | "
                     f"{curve} | {final['ce']:.2f} | {tpw:.3f} | {final['ce'] * tpw:.2f} |")
    md = "\n".join(lines) + "\n"
    print(md)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)


if __name__ == "__main__":
    main()
