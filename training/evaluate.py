#!/usr/bin/python3
"""Measure an exported CALM model directory on a JSONL test set (the numbers of MODEL.md).

    /usr/bin/python3 training/evaluate.py MODEL_DIR [--test FILE] [--limit N]
                     [--markdown FILE] [--json FILE] [--outputs FILE]

The test set has one {"input": ..., "reference": ...} per line (default: the
shipped resources/data/<kjv2web|prose>/test.jsonl, picked by model_type).

T5 (model_type "t5", kjv2web):
  * greedy outputs of the full model (at most --max-new-tokens, default 128),
    batched with a K/V cache; corpus BLEU and mean ROUGE-L F1 of the outputs vs
    the references, next to the copy baseline (output = input) on the same
    metrics. Both metrics work on words: case-sensitive, punctuation split from
    words (regex \\w+|[^\\w\\s]). BLEU is Papineni et al. (2002): clipped n-gram
    precisions for n = 1..4 pooled over the corpus, geometric mean, brevity
    penalty exp(1 - r/c) when c <= r, one reference, no smoothing. ROUGE-L is
    the LCS F1 (beta = 1) per example, averaged. Both are reported x100.
Llama (model_type "llama", prose):
  * held-out perplexity of the full model on the references given the inputs:
    ids = bos + input + reference, exp of the mean cross-entropy over the
    reference tokens (pooled over all examples);
  * greedy continuations (--prompt-tokens, default 40 new tokens) of the five
    fixed PROMPTS below.
Both, teacher-forced on the references (T5: encoder = input + eos, decoder =
reference + eos as in training; Llama: bos + input + reference, statistics over
the reference positions):
  * per exit layer i = 1..L: top-1 agreement with the top layer L (argmax_i ==
    argmax_L), top-1 accuracy vs the reference token, perplexity exp(mean CE);
  * local-oracle average exit layer: mean over positions of the first layer
    whose argmax equals the top layer's (the top layer always does);
  * with an early-exit classifier: per layer 1..L-1, F1 of "probability >= 0.5"
    against the label "argmax_i == argmax_L" (positive class), with precision,
    recall, the label positive rate and the predicted positive rate.

The Markdown section goes to stdout (and --markdown FILE); --json FILE gets every
number; --outputs FILE gets the T5 greedy outputs as JSONL. The wall time and the
exact command line are written into both.

Use one thread (the default, --threads) on a busy machine.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import sys
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from calm.export import load_model_dir  # noqa: E402
from calm.model import greedy_generate  # noqa: E402
from calm import tokenizer as tok  # noqa: E402

DEFAULT_TEST = {"t5": "resources/data/kjv2web/test.jsonl",
                "llama": "resources/data/prose/test.jsonl"}

# Five fixed prompts for the prose model: a speech opening, a Bible-like
# sentence, a narrative sentence, a computing-jargon sentence, a plain modern one.
PROMPTS = [
    "Fellow citizens of the Senate and of the House of Representatives, it is with great satisfaction that I",
    "And the LORD said unto Moses, Go in unto Pharaoh, and tell him, Thus saith the LORD God of the Hebrews,",
    "The old captain stood on the deck in the grey morning light and looked out over the water, where",
    "To install the package, download the source archive, run the configure script, and then compile the",
    "Yesterday my sister called to tell me that she had found a new job in the city and that",
]


# ----------------------------------------------------------------------------
# Metrics on words (plain Python; tested in tests/test_evaluate.py)

WORD_RE = re.compile(r"\w+|[^\w\s]")


def words(text):
    """Case-sensitive word tokens, punctuation split off: "Go, now!" -> Go , now !"""
    return WORD_RE.findall(text)


def ngram_counts(toks, n):
    return Counter(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))


def corpus_bleu(hypotheses, references, max_n=4):
    """Corpus BLEU (Papineni et al. 2002), one reference per hypothesis, no smoothing.

    hypotheses, references: lists of token lists. p_n = sum over the corpus of
    the clipped n-gram matches / sum of the hypothesis n-gram counts; BLEU =
    BP * exp(mean_n log p_n), BP = 1 if c > r else exp(1 - r / c) with c, r the
    total hypothesis and reference lengths. Any p_n = 0 gives 0.
    Returns a dict with bleu (0..100), precisions (0..1), bp, hyp_len, ref_len."""
    assert len(hypotheses) == len(references)
    match = [0] * max_n
    total = [0] * max_n
    c = r = 0
    for hyp, ref in zip(hypotheses, references):
        c += len(hyp)
        r += len(ref)
        for n in range(1, max_n + 1):
            h, g = ngram_counts(hyp, n), ngram_counts(ref, n)
            match[n - 1] += sum(min(k, g[ng]) for ng, k in h.items())
            total[n - 1] += max(len(hyp) - n + 1, 0)
    precisions = [m / t if t else 0.0 for m, t in zip(match, total)]
    if c == 0:
        bp = 0.0
    elif c > r:
        bp = 1.0
    else:
        bp = math.exp(1.0 - r / c)
    if min(precisions) == 0.0:
        bleu = 0.0
    else:
        bleu = bp * math.exp(sum(math.log(p) for p in precisions) / max_n)
    return {"bleu": 100.0 * bleu, "precisions": precisions, "bp": bp,
            "hyp_len": c, "ref_len": r, "matches": match, "totals": total}


def lcs_length(a, b):
    """Length of the longest common subsequence of two token lists (O(len a * len b))."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            cur[j + 1] = prev[j] + 1 if x == y else max(prev[j + 1], cur[j])
        prev = cur
    return prev[-1]


def rouge_l(hyp, ref):
    """ROUGE-L F1 (beta = 1) of one hypothesis vs one reference, token lists, 0..1.
    P = LCS / len(hyp), R = LCS / len(ref), F = 2PR / (P + R); 0 if either is empty
    or nothing matches."""
    if not hyp or not ref:
        return 0.0
    lcs = lcs_length(hyp, ref)
    if lcs == 0:
        return 0.0
    p, r = lcs / len(hyp), lcs / len(ref)
    return 2 * p * r / (p + r)


def mean_rouge_l(hypotheses, references):
    """Mean per-example ROUGE-L F1, x100."""
    if not hypotheses:
        return 0.0
    return 100.0 * sum(rouge_l(h, r) for h, r in zip(hypotheses, references)) / len(hypotheses)


def text_metrics(outputs, references):
    hyp = [words(o) for o in outputs]
    ref = [words(r) for r in references]
    b = corpus_bleu(hyp, ref)
    return {"bleu": b["bleu"], "rouge_l": mean_rouge_l(hyp, ref), "bleu_detail": b}


# ----------------------------------------------------------------------------
# Data

def read_jsonl(path, limit=0):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
                if limit and len(rows) >= limit:
                    break
    return rows


def batches_by_length(lengths, batch_size):
    """Index batches of similar lengths (longest first), for padding efficiency."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def pad(seqs, value):
    T = max(len(s) for s in seqs)
    x = torch.full((len(seqs), T), value, dtype=torch.long)
    m = torch.zeros((len(seqs), T), dtype=torch.long)
    for b, s in enumerate(seqs):
        x[b, :len(s)] = torch.tensor(s, dtype=torch.long)
        m[b, :len(s)] = 1
    return x, m


# ----------------------------------------------------------------------------
# Batched greedy decoding for T5 (full model, K/V cache, finished rows dropped)

def _select_cache(cache, keep):
    for layer in cache:
        for part in layer.values():
            for k in list(part):
                part[k] = part[k].index_select(0, keep)


@torch.no_grad()
def t5_greedy_batch(model, srcs, max_new_tokens):
    """Greedy outputs (ids, eos excluded) for a list of encoder inputs (eos
    appended). Same maths as calm.model.greedy_generate, batched."""
    cfg = model.cfg
    dev = next(model.parameters()).device
    src, mask = (t.to(dev) for t in pad(srcs, cfg.pad_token_id))
    enc = model.encode(src, mask)
    cache = model.new_cache()
    B = len(srcs)
    outs = [[] for _ in range(B)]
    rows = torch.arange(B, device=dev)           # original row of each live row
    cur = torch.full((B, 1), cfg.decoder_start_token_id, dtype=torch.long, device=dev)
    for step in range(max_new_tokens):
        hs = model.decode_hidden(cur, enc, enc_mask=mask, cache=cache, offset=step)
        nxt = model.exit_logits(hs[-1][:, -1]).argmax(-1)     # (live,)
        done = nxt == cfg.eos_token_id
        for r, t, d in zip(rows.tolist(), nxt.tolist(), done.tolist()):
            if not d:
                outs[r].append(t)
        if bool(done.all()):
            break
        if bool(done.any()):
            keep = (~done).nonzero(as_tuple=True)[0]
            rows, nxt, enc, mask = rows[keep], nxt[keep], enc[keep], mask[keep]
            _select_cache(cache, keep)
        cur = nxt[:, None]
    return outs


def t5_generate_all(model, sp, inputs, max_new_tokens, batch_size, log=None):
    srcs = [s + [sp.eos_id()] for s in sp.encode(inputs)]
    outs = [None] * len(srcs)
    t0 = time.time()
    done = 0
    for bi, idx in enumerate(batches_by_length([len(s) for s in srcs], batch_size)):
        for i, o in zip(idx, t5_greedy_batch(model, [srcs[i] for i in idx], max_new_tokens)):
            outs[i] = o
        done += len(idx)
        if log:
            log(f"generate: {done}/{len(srcs)} ({time.time() - t0:.0f} s)")
    return outs


# ----------------------------------------------------------------------------
# Teacher-forced per-layer statistics

class LayerStats:
    """Accumulates, per exit layer, CE sums, agreement with the top layer,
    accuracy vs gold, the local-oracle exit layer and classifier confusion counts."""

    def __init__(self, L, has_classifier):
        self.L = L
        self.n = 0
        self.ce = torch.zeros(L, dtype=torch.float64)
        self.agree = torch.zeros(L, dtype=torch.long)
        self.correct = torch.zeros(L, dtype=torch.long)
        self.oracle_sum = 0
        self.oracle_hist = torch.zeros(L, dtype=torch.long)
        self.has_classifier = has_classifier
        self.tp = torch.zeros(L, dtype=torch.long)
        self.fp = torch.zeros(L, dtype=torch.long)
        self.fn = torch.zeros(L, dtype=torch.long)
        self.pred_pos = torch.zeros(L, dtype=torch.long)

    @torch.no_grad()
    def add(self, model, hidden, labels):
        """hidden (L, N, d) raw states at the scored positions, labels (N,)."""
        preds = []
        for i in range(self.L):
            logits = model.exit_logits(hidden[i]).float()
            self.ce[i] += F.cross_entropy(logits, labels, reduction="sum").double()
            p = logits.argmax(-1)
            self.correct[i] += int((p == labels).sum())
            preds.append(p)
        pred = torch.stack(preds)                     # (L, N)
        same = pred == pred[-1:]                      # (L, N)
        self.agree += same.sum(-1)
        first = same.to(torch.long).argmax(0)         # first True (top is always True)
        self.oracle_sum += int((first + 1).sum())
        self.oracle_hist += torch.bincount(first, minlength=self.L)
        if self.has_classifier:
            c = model.classifier
            prob = torch.sigmoid(hidden.float() @ c.weight.float() + c.bias.float()[0])  # (L, N)
            yes = prob >= 0.5
            self.tp += (yes & same).sum(-1)
            self.fp += (yes & ~same).sum(-1)
            self.fn += (~yes & same).sum(-1)
            self.pred_pos += yes.sum(-1)
        self.n += labels.numel()

    def result(self):
        n = max(self.n, 1)
        mean_ce = (self.ce / n).tolist()
        out = {
            "positions": self.n,
            "mean_ce": mean_ce,
            "perplexity": [math.exp(min(x, 700.0)) for x in mean_ce],
            "agreement_with_top": (self.agree.double() / n).tolist(),
            "accuracy_vs_reference": (self.correct.double() / n).tolist(),
            "oracle_avg_exit_layer": self.oracle_sum / n,
            "oracle_exit_histogram": self.oracle_hist.tolist(),
        }
        if self.has_classifier:
            cls = []
            for i in range(self.L - 1):     # the top layer has no label
                tp, fp, fn = int(self.tp[i]), int(self.fp[i]), int(self.fn[i])
                prec = tp / (tp + fp) if tp + fp else 0.0
                rec = tp / (tp + fn) if tp + fn else 0.0
                f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
                cls.append({"layer": i + 1, "f1": f1, "precision": prec, "recall": rec,
                            "positive_rate": int(self.agree[i]) / n,
                            "predicted_positive_rate": int(self.pred_pos[i]) / n})
            out["classifier"] = cls
        return out


@torch.no_grad()
def t5_layer_stats(model, sp, rows, batch_size, log=None):
    cfg = model.cfg
    eos = sp.eos_id()
    srcs = [s + [eos] for s in sp.encode([r["input"] for r in rows])]
    tgts = [t + [eos] for t in sp.encode([r["reference"] for r in rows])]
    st = LayerStats(model.num_exits, model.classifier is not None)
    lens = [max(len(s), len(t)) for s, t in zip(srcs, tgts)]
    for idx in batches_by_length(lens, batch_size):
        src, mask = pad([srcs[i] for i in idx], cfg.pad_token_id)
        dec, dmask = pad([[cfg.decoder_start_token_id] + tgts[i][:-1] for i in idx], cfg.pad_token_id)
        lab, _ = pad([tgts[i] for i in idx], -100)
        enc = model.encode(src, mask)
        hidden = torch.stack(model.decode_hidden(dec, enc, mask))      # (L, B, T, d)
        valid = dmask.reshape(-1).bool()
        st.add(model, hidden.reshape(hidden.shape[0], -1, hidden.shape[-1])[:, valid],
               lab.reshape(-1)[valid])
    return st.result()


@torch.no_grad()
def llama_layer_stats(model, sp, rows, batch_size, log=None):
    bos = sp.bos_id()
    prompts = [[bos] + p for p in sp.encode([r["input"] for r in rows])]
    refs = sp.encode([r["reference"] for r in rows])
    seqs = [p + r for p, r in zip(prompts, refs)]
    st = LayerStats(model.num_exits, model.classifier is not None)
    for idx in batches_by_length([len(s) for s in seqs], batch_size):
        # right padding: with the causal mask no real position sees a pad
        x, _ = pad([seqs[i] for i in idx], 0)
        hidden = torch.stack(model.decode_hidden(x))                   # (L, B, T, d)
        pos_b, pos_t, labs = [], [], []
        for b, i in enumerate(idx):
            P, R = len(prompts[i]), len(refs[i])
            for t in range(P - 1, P + R - 1):      # position t predicts seqs[i][t + 1]
                pos_b.append(b)
                pos_t.append(t)
                labs.append(seqs[i][t + 1])
        if not labs:
            continue
        st.add(model, hidden[:, torch.tensor(pos_b), torch.tensor(pos_t)],
               torch.tensor(labs, dtype=torch.long))
    return st.result()


# ----------------------------------------------------------------------------
# Markdown

def f2(x):
    return f"{x:.2f}"


def fmt_ppl(x):
    return f"{x:.2f}" if x < 1e4 else f"{x:.3g}"


def md_escape(s):
    return s.replace("|", "\\|").replace("\n", " ")


def markdown(res):
    L = res["model"]["exits"]
    lines = [f"## Measured quality: {res['model']['name']}", ""]
    m = res["model"]
    lines.append(f"- model: `{m['dir']}` ({m['model_type']}, {L} decoder layers, d_model {m['d_model']}, "
                 f"vocabulary {m['vocab_size']}, {m['parameters'] / 1e6:.2f} M parameters, "
                 f"classifier head: {'yes' if m['classifier'] else 'no'})")
    lines.append(f"- test set: `{res['test']['path']}`, {res['test']['examples']} examples"
                 + (f" (first {res['test']['limit']})" if res['test']['limit'] else ""))
    lines.append("")
    if m["model_type"] == "t5":
        g = res["generation"]
        lines += [f"Greedy decoding, full model, at most {g['max_new_tokens']} new tokens "
                  f"({g['hit_max_tokens']} outputs hit the limit). Words: case-sensitive, punctuation "
                  "split off; corpus BLEU-4 (no smoothing), mean ROUGE-L F1.", "",
                  "| system | BLEU | ROUGE-L | 1/2/3/4-gram precision | brevity penalty | words out / ref |",
                  "|---|---|---|---|---|---|"]
        for key, label in (("full_model", "full model"), ("copy_baseline", "copy baseline (output = input)")):
            t = res[key]
            b = t["bleu_detail"]
            prec = "/".join(f"{100 * p:.1f}" for p in b["precisions"])
            lines.append(f"| {label} | {f2(t['bleu'])} | {f2(t['rouge_l'])} | {prec} | {b['bp']:.3f} | "
                         f"{b['hyp_len']} / {b['ref_len']} |")
        lines.append("")
        lines.append(f"Full model minus copy baseline: BLEU {res['full_model']['bleu'] - res['copy_baseline']['bleu']:+.2f}, "
                     f"ROUGE-L {res['full_model']['rouge_l'] - res['copy_baseline']['rouge_l']:+.2f}.")
        lines.append("")
        if res.get("samples"):
            lines += ["Samples (first test examples):", ""]
            for s in res["samples"]:
                lines += [f"- input: {s['input']}", f"  - reference: {s['reference']}",
                          f"  - model: {s['output']}"]
            lines.append("")
    else:
        p = res["perplexity"]
        lines += [f"Held-out perplexity of the full model on the references given the inputs: "
                  f"**{fmt_ppl(p['perplexity'])}** ({p['mean_ce']:.3f} nats per token over "
                  f"{p['tokens']} reference tokens).", "",
                  f"Greedy continuations of the fixed prompts ({res['continuations_max_new_tokens']} new tokens):", ""]
        for c in res["continuations"]:
            lines.append(f"- *{md_escape(c['prompt'])}* → {md_escape(c['continuation'])}")
        lines.append("")
    s = res["layers"]
    what = ("encoder = input, decoder = reference + eos" if m["model_type"] == "t5"
            else "bos + input + reference, scored on the reference tokens")
    lines += [f"Per exit layer, teacher-forced on the test references ({what}; {s['positions']} positions):", "",
              "| layer | top-1 agreement with top layer | perplexity | top-1 accuracy vs reference |",
              "|---|---|---|---|"]
    for i in range(L):
        lines.append(f"| {i + 1} | {100 * s['agreement_with_top'][i]:.1f}% | {fmt_ppl(s['perplexity'][i])} | "
                     f"{100 * s['accuracy_vs_reference'][i]:.1f}% |")
    lines += ["", f"Local-oracle average exit layer (first layer whose argmax equals the top layer's): "
              f"**{s['oracle_avg_exit_layer']:.2f}** of {L}; exits per layer: "
              + ", ".join(f"{i + 1}: {100 * c / max(s['positions'], 1):.1f}%"
                          for i, c in enumerate(s["oracle_exit_histogram"])) + ".", ""]
    if "classifier" in s:
        lines += ["Early-exit classifier per layer (positive = the layer's argmax equals the top layer's; "
                  "predicted positive = probability >= 0.5):", "",
                  "| layer | F1 | precision | recall | positive rate | predicted positive rate |",
                  "|---|---|---|---|---|---|"]
        for c in s["classifier"]:
            lines.append(f"| {c['layer']} | {c['f1']:.3f} | {c['precision']:.3f} | {c['recall']:.3f} | "
                         f"{100 * c['positive_rate']:.1f}% | {100 * c['predicted_positive_rate']:.1f}% |")
        lines.append("")
    else:
        lines += ["No early-exit classifier in this model.", ""]
    lines += [f"Evaluation wall time: {res['wall_time_s']:.1f} s (CPU time {res['cpu_time_s']:.1f} s, "
              f"{res['threads']} torch thread(s)); command:", "", "```", res["command"], "```", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# Main

def model_name(model_dir):
    """training/runs/kjv2web/model -> kjv2web; resources/models/prose -> prose."""
    parts = os.path.normpath(os.path.abspath(model_dir)).split(os.sep)
    return parts[-2] if parts[-1] == "model" and len(parts) > 1 else parts[-1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("model_dir")
    ap.add_argument("--test", help="JSONL test set (default: resources/data/<kjv2web|prose>/test.jsonl)")
    ap.add_argument("--limit", type=int, default=0, help="first N examples only")
    ap.add_argument("--max-new-tokens", type=int, default=128, help="T5 greedy output limit")
    ap.add_argument("--prompt-tokens", type=int, default=40, help="Llama continuation length")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=3, help="T5 sample outputs in the Markdown")
    ap.add_argument("--markdown", metavar="FILE")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--outputs", metavar="FILE", help="T5: greedy outputs as JSONL")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    argv_full = getattr(sys, "orig_argv", [sys.executable] + sys.argv)
    command = shlex.join(argv_full if argv is None else [sys.executable, __file__] + list(argv))
    t_start = time.time()
    cpu_start = time.process_time()

    def log(msg):
        if not args.quiet:
            print(f"[evaluate {time.time() - t_start:6.1f} s] {msg}", file=sys.stderr, flush=True)

    model = load_model_dir(args.model_dir)
    with open(os.path.join(args.model_dir, "config.json")) as f:
        cfgd = json.load(f)
    sp = tok.load(os.path.join(args.model_dir, "tokenizer.model"))
    arch = model.arch
    test = args.test or os.path.join(REPO, DEFAULT_TEST[arch])
    rows = read_jsonl(test, args.limit)
    log(f"{args.model_dir}: {arch}, {len(rows)} examples from {test}")
    res = {
        "model": {"dir": args.model_dir,
                  "name": model_name(args.model_dir),
                  "model_type": arch, "exits": model.num_exits, "d_model": model.d_model,
                  "vocab_size": model.cfg.vocab_size,
                  "parameters": sum(p.numel() for p in model.parameters()),
                  "classifier": model.classifier is not None,
                  "torch_dtype": cfgd.get("torch_dtype"),
                  "file_bytes": os.path.getsize(os.path.join(args.model_dir, "model.safetensors"))},
        "test": {"path": os.path.relpath(test, REPO), "examples": len(rows), "limit": args.limit},
        "threads": args.threads,
    }
    inputs = [r["input"] for r in rows]
    refs = [r["reference"] for r in rows]
    if arch == "t5":
        t0 = time.time()
        out_ids = t5_generate_all(model, sp, inputs, args.max_new_tokens, args.batch_size, log)
        outputs = [sp.decode(o) for o in out_ids]
        gen_s = time.time() - t0
        res["generation"] = {"max_new_tokens": args.max_new_tokens, "seconds": gen_s,
                             "output_tokens": sum(len(o) for o in out_ids),
                             "hit_max_tokens": sum(len(o) >= args.max_new_tokens for o in out_ids)}
        log(f"generated {len(outputs)} outputs in {gen_s:.1f} s")
        res["full_model"] = text_metrics(outputs, refs)
        res["copy_baseline"] = text_metrics(inputs, refs)
        res["samples"] = [{"input": a, "reference": b, "output": o}
                          for a, b, o in list(zip(inputs, refs, outputs))[:args.samples]]
        if args.outputs:
            with open(args.outputs, "w", encoding="utf-8") as f:
                for r, o, ids in zip(rows, outputs, out_ids):
                    f.write(json.dumps({**r, "output": o, "output_ids": ids}, ensure_ascii=False) + "\n")
        t0 = time.time()
        res["layers"] = t5_layer_stats(model, sp, rows, args.batch_size, log)
        res["layers_seconds"] = time.time() - t0
        log(f"per-layer statistics in {time.time() - t0:.1f} s")
    else:
        t0 = time.time()
        res["layers"] = llama_layer_stats(model, sp, rows, args.batch_size, log)
        top_ce = res["layers"]["mean_ce"][-1]
        res["perplexity"] = {"mean_ce": top_ce, "perplexity": res["layers"]["perplexity"][-1],
                             "tokens": res["layers"]["positions"]}
        res["layers_seconds"] = time.time() - t0
        log(f"perplexity and per-layer statistics in {time.time() - t0:.1f} s")
        res["continuations_max_new_tokens"] = args.prompt_tokens
        conts = []
        for p in PROMPTS:
            ids = tok.encode_prompt(sp, p, "llama")
            gen = greedy_generate(model, ids, args.prompt_tokens)
            if gen and gen[-1] == sp.eos_id():
                gen = gen[:-1]
            conts.append({"prompt": p, "continuation": sp.decode(gen), "ids": gen})
        res["continuations"] = conts
    res["wall_time_s"] = time.time() - t_start
    res["cpu_time_s"] = time.process_time() - cpu_start
    res["command"] = command
    md = markdown(res)
    print(md)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(md)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1, ensure_ascii=False)
            f.write("\n")
    return res


if __name__ == "__main__":
    main()
