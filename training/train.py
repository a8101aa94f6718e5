#!/usr/bin/python3
"""CALM training: tokenizer, stage 1 (backbone), stage 2 (early-exit classifier), export.

    /usr/bin/python3 training/train.py all --config training/configs/kjv2web.json --minutes 60
    /usr/bin/python3 training/train.py tokenizer --config CFG
    /usr/bin/python3 training/train.py stage1 --config CFG --minutes 60 [--resume]
    /usr/bin/python3 training/train.py stage2 --config CFG [--minutes 5]
    /usr/bin/python3 training/train.py export --config CFG [--out DIR] [--dtype F16]

Everything of a run lives in training/runs/<name>/ (name from the config or
--name): tokenizer.model, ckpt.pt (stage 1: model, optimizer, schedule, RNG
states, data position, elapsed time), stage2.pt (classifier), log.txt, and
model/ (the exported model directory), and with --snapshot-minutes N the
weights every N minutes in snapshots/ (training/snapshot_curve.py turns them
into BLEU by training time).

Stage 1 schedule: linear warm-up then cosine decay to min_lr_frac * lr. With
--minutes the total step count is sized to the wall-clock budget: after 20
steps the time per step is measured and total = budget / (time per step); the
budget counts the time of earlier (resumed) sessions too. --max-steps fixes the
total instead. The loss is CALM's weighted per-layer cross-entropy; the layers
below the top see a random sample_frac of the positions (the vocabulary
projections dominate the cost).

--set key.sub=value overrides config entries (value parsed as JSON when it can
be), e.g. --set train.lr=1e-3 --set model.num_decoder_layers=4.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)


def _blas_threads_from_argv(argv):
    """torch.set_num_threads does not reach Debian's OpenBLAS (pthread build): a
    --threads 1 run was measured at 187% CPU. Its pool size is read from the
    environment when the library loads, so set it before importing torch."""
    if "--threads" in argv[:-1]:
        n = argv[argv.index("--threads") + 1]
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
            os.environ.setdefault(var, n)


if __name__ == "__main__":
    _blas_threads_from_argv(sys.argv)

import torch  # noqa: E402

from calm.model import (T5Config, LlamaConfig, build_model, init_for_training,  # noqa: E402
                        calm_stage1_loss, calm_stage2_loss, calm_stage2_labels,
                        classifier_logits, config_from_dict, greedy_generate)
from calm import tokenizer as tok  # noqa: E402
from calm import data as D  # noqa: E402
from calm.export import save_model_dir, config_dict  # noqa: E402


# ---------------------------------------------------------------------------- setup

def load_config(path, overrides=(), name=None):
    with open(path) as f:
        cfg = json.load(f)
    for o in overrides or ():
        key, _, val = o.partition("=")
        try:
            val = json.loads(val)
        except json.JSONDecodeError:
            pass
        node = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = val
    if name:
        cfg["name"] = name
    return cfg


def repo_path(p):
    return p if os.path.isabs(p) else os.path.join(REPO, p)


class Run:
    """Paths and logging of one run."""

    def __init__(self, cfg, runs_dir=None):
        self.cfg = cfg
        self.dir = os.path.join(runs_dir or os.path.join(HERE, "runs"), cfg["name"])
        os.makedirs(self.dir, exist_ok=True)
        self.tokenizer = os.path.join(self.dir, "tokenizer.model")
        self.ckpt = os.path.join(self.dir, "ckpt.pt")
        self.stage2 = os.path.join(self.dir, "stage2.pt")
        self.log_path = os.path.join(self.dir, "log.txt")
        self.snapshots = os.path.join(self.dir, "snapshots")

    def log(self, msg):
        line = time.strftime("%H:%M:%S ") + msg
        print(line, flush=True)
        with open(self.log_path, "a") as f:
            f.write(line + "\n")


def pick_device(arg):
    if arg:
        return torch.device(arg)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_config(cfg, sp):
    m = dict(cfg["model"])
    m["vocab_size"] = sp.get_piece_size()
    if cfg["arch"] == "t5":
        m.update(pad_token_id=sp.pad_id(), eos_token_id=sp.eos_id(), decoder_start_token_id=sp.pad_id())
        return T5Config(**m)
    m.update(bos_token_id=sp.bos_id(), eos_token_id=sp.eos_id())
    return LlamaConfig(**m)


def load_checkpoint(path):
    """A .pt file of this project (checkpoint, snapshot, classifier) on the CPU. It
    holds RNG states and plain dicts besides tensors, which newer torch refuses to
    unpickle by default."""
    return torch.load(path, map_location="cpu", weights_only=False)


def save_atomic(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- tokenizer

def cmd_tokenizer(cfg, run, force=False):
    if os.path.exists(run.tokenizer) and not force:
        run.log(f"tokenizer: keeping {run.tokenizer}")
        return tok.load(run.tokenizer)
    t = cfg["tokenizer"]
    path = repo_path(cfg["data"]["train"])
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "text.txt")
        with open(text, "w", encoding="utf-8") as f:
            if cfg["data"]["kind"] == "pairs":
                for a, b in D.read_pairs(path):
                    f.write(a + "\n" + b + "\n")
            else:
                for line in D.read_lines(path):
                    f.write(line + "\n")
        t0 = time.time()
        sp = tok.train_tokenizer(text, run.tokenizer, t["vocab_size"], cfg["arch"],
                                 max_sentences=t.get("max_sentences", 2000000),
                                 model_type=t.get("model_type"),
                                 normalization=t.get("normalization", "nmt_nfkc"))
    run.log(f"tokenizer: {t['vocab_size']} pieces in {time.time() - t0:.0f}s -> {run.tokenizer}")
    return sp


# ---------------------------------------------------------------------------- data

def build_data(cfg, sp, seed):
    d = cfg["data"]
    tr = cfg["train"]
    path = repo_path(d["train"])
    if d["kind"] == "pairs":
        rows = D.read_pairs(path, d.get("limit", 0))
        train, valid = D.split_heldout(rows, d.get("heldout_every", 200))
        mk = lambda rs, s: D.PairBatches(sp, rs, d["max_src_len"], d["max_tgt_len"],  # noqa: E731
                                         tr["batch_tokens"], seed=s, pad_id=sp.pad_id())
    else:
        rows = D.read_lines(path, d.get("limit", 0))
        train, valid = D.split_heldout(rows, d.get("heldout_every", 200))
        mk = lambda rs, s: D.StreamBatches(sp, rs, d["seq_len"], tr["batch_size"], seed=s)  # noqa: E731
    return mk(train, seed), (mk(valid, seed + 1) if valid else None)


def to_device(batch, dev):
    return {k: v.to(dev, non_blocking=True) for k, v in batch.items()}


def forward_hidden(model, batch):
    """Raw per-layer states (L, B, T, d) and labels (B, T)."""
    if model.arch == "t5":
        enc = model.encode(batch["input_ids"], batch["attention_mask"])
        hs = model.decode_hidden(batch["decoder_input_ids"], enc, batch["attention_mask"])
    else:
        hs = model.decode_hidden(batch["input_ids"])
    return torch.stack(hs), batch["labels"]


def collate(data, model, ids):
    if model.arch == "t5":
        return data.collate(ids, start_id=model.cfg.decoder_start_token_id)
    return data.collate(ids)


def count_tokens(batch):
    tgt = int((batch["labels"] != -100).sum())
    src = int(batch["attention_mask"].sum()) if "attention_mask" in batch else 0
    return src, tgt


@torch.no_grad()
def evaluate(model, valid, dev, n_batches, amp):
    """Per-layer mean CE over up to n_batches held-out batches (all positions)."""
    if valid is None:
        return None
    was = model.training
    model.eval()
    tot, n = None, 0
    for ids in valid.epoch_batches(0)[:n_batches]:
        b = to_device(collate(valid, model, ids), dev)
        with amp_ctx(dev, amp):
            hidden, labels = forward_hidden(model, b)
            _, ce = calm_stage1_loss(model, hidden, labels)
        k = int((labels != -100).sum())
        tot = ce.float() * k if tot is None else tot + ce.float() * k
        n += k
    model.train(was)
    return (tot / max(n, 1)).cpu()


def amp_ctx(dev, amp):
    if amp and dev.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


# ---------------------------------------------------------------------------- stage 1

def lr_at(step, total, warmup, base, min_frac):
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * p)))


def fmt_layers(ce):
    return " ".join(f"{float(x):.2f}" for x in ce)


def cmd_stage1(cfg, run, args):
    tr = cfg["train"]
    seed = tr.get("seed", 0)
    dev = pick_device(args.device)
    amp = not args.no_amp
    sp = tok.load(run.tokenizer) if os.path.exists(run.tokenizer) else cmd_tokenizer(cfg, run)
    torch.manual_seed(seed)
    random.seed(seed)
    model = build_model(model_config(cfg, sp))
    init_for_training(model, seed)
    model.to(dev).train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tr.get("weight_decay", 0.01)},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=tr["lr"], betas=(0.9, 0.95), eps=1e-8)
    train, valid = build_data(cfg, sp, seed)
    n_params = sum(p.numel() for p in model.parameters())
    budget = args.minutes * 60 if args.minutes else None

    st = {"step": 0, "total": args.max_steps or None, "warmup": tr.get("warmup_steps", 300),
          "epoch": 0, "index": 0, "elapsed": 0.0, "sec_per_step": None, "tokens": 0,
          "budget": budget, "commands": []}
    if args.resume and os.path.exists(run.ckpt):
        ck = load_checkpoint(run.ckpt)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        st.update(ck["sched"])
        torch.set_rng_state(ck["rng"]["torch"])
        random.setstate(ck["rng"]["python"])
        if dev.type == "cuda" and ck["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(ck["rng"]["cuda"])
        if args.max_steps:
            st["total"] = args.max_steps
        elif budget and budget != st.get("budget") and st["sec_per_step"]:
            # a new budget: size the rest of the schedule to it
            st["total"] = st["step"] + int(max(0, budget - st["elapsed"]) / st["sec_per_step"])
        st["budget"] = budget
        run.log(f"stage1: resumed at step {st['step']} (epoch {st['epoch']}, "
                f"{st['elapsed'] / 60:.1f} min done), total {st['total']}")
    elif not budget and not args.max_steps:
        raise SystemExit("stage1 needs --minutes or --max-steps")
    st["commands"] = st.get("commands", []) + [args.command_line]

    run.log(f"stage1: {cfg['name']} {cfg['arch']} {n_params / 1e6:.2f}M params, "
            f"{len(train.epoch_batches(0))} batches/epoch, device {dev}, "
            f"exits {model.num_exits}, sample_frac {tr.get('sample_frac', 1.0)}")
    gen = torch.Generator().manual_seed(seed + st["step"])
    t_session = time.time()
    t_last_ckpt = time.time()
    t_last_snapshot = time.time()
    t_log, src_log, tgt_log = time.time(), 0, 0
    ema = None
    calib_at = st["step"] + 20 if st["sec_per_step"] is None else None
    t_calib0 = None
    batches = train.epoch_batches(st["epoch"])

    def elapsed():
        return st["elapsed"] + (time.time() - t_session)

    def checkpoint():
        s = dict(st, elapsed=elapsed())
        save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "sched": s,
                     "rng": {"torch": torch.get_rng_state(), "python": random.getstate(),
                             "cuda": torch.cuda.get_rng_state() if dev.type == "cuda" else None},
                     "config": cfg, "model_config": config_dict(model),
                     "stage": 1}, run.ckpt)

    def snapshot():
        """Weights only, kept (not overwritten), for quality-vs-training-time curves."""
        os.makedirs(run.snapshots, exist_ok=True)
        save_atomic({"model": model.state_dict(), "model_config": config_dict(model),
                     "step": st["step"], "tokens": st["tokens"], "elapsed": elapsed()},
                    os.path.join(run.snapshots, f"step{st['step']:06d}.pt"))

    while True:
        if st["total"] is not None and st["step"] >= st["total"]:
            break
        if budget and elapsed() >= budget:
            break
        if st["index"] >= len(batches):
            st["epoch"] += 1
            st["index"] = 0
            batches = train.epoch_batches(st["epoch"])
        b = collate(train, model, batches[st["index"]])
        st["index"] += 1
        src_n, tgt_n = count_tokens(b)
        b = to_device(b, dev)
        total_for_lr = st["total"] or 10 ** 9
        lr = lr_at(st["step"], total_for_lr, min(st["warmup"], max(1, total_for_lr // 10)),
                   tr["lr"], tr.get("min_lr_frac", 0.05))
        for g in opt.param_groups:
            g["lr"] = lr
        with amp_ctx(dev, amp):
            hidden, labels = forward_hidden(model, b)
            loss, ce = calm_stage1_loss(model, hidden, labels, sample_frac=tr.get("sample_frac", 1.0),
                                        generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), tr.get("clip", 1.0))
        opt.step()
        st["step"] += 1
        st["tokens"] += tgt_n
        src_log += src_n
        tgt_log += tgt_n
        ce = ce.float().cpu()
        ema = ce if ema is None else 0.9 * ema + 0.1 * ce
        if calib_at is not None:
            if st["step"] == calib_at - 15:
                t_calib0 = time.time()
            elif st["step"] == calib_at and t_calib0 is not None:
                st["sec_per_step"] = (time.time() - t_calib0) / 15
                if budget and not args.max_steps:
                    st["total"] = st["step"] + int(max(0, budget - elapsed()) / st["sec_per_step"])
                    run.log(f"stage1: {st['sec_per_step']:.3f} s/step -> schedule of {st['total']} steps")
                calib_at = None
        if st["step"] % tr.get("log_every", 10) == 0:
            dt = time.time() - t_log
            run.log(f"step {st['step']}/{st['total'] or '?'} ep {st['epoch']} lr {lr:.2e} "
                    f"loss {float(loss):.3f} | per layer {fmt_layers(ema)} | gnorm {float(gnorm):.2f} | "
                    f"{(src_log + tgt_log) / dt:.0f} tok/s ({tgt_log / dt:.0f} target tok/s) | "
                    f"{elapsed() / 60:.1f} min")
            t_log, src_log, tgt_log = time.time(), 0, 0
        if args.snapshot_minutes and time.time() - t_last_snapshot >= args.snapshot_minutes * 60:
            snapshot()
            t_last_snapshot = time.time()
        if time.time() - t_last_ckpt >= args.ckpt_minutes * 60:
            checkpoint()
            t_last_ckpt = time.time()
            ev = evaluate(model, valid, dev, tr.get("eval_batches", 20), amp)
            if ev is not None:
                run.log(f"checkpoint step {st['step']}: held-out CE per layer {fmt_layers(ev)}")
    checkpoint()
    if args.snapshot_minutes:
        snapshot()
    ev = evaluate(model, valid, dev, tr.get("eval_batches", 20), amp)
    st_msg = f"stage1 done: step {st['step']}, {st['tokens']} target tokens, {elapsed() / 60:.1f} min"
    if ev is not None:
        st_msg += f"; held-out CE per layer {fmt_layers(ev)}"
        ck = load_checkpoint(run.ckpt)
        ck["valid_ce"] = ev.tolist()
        save_atomic(ck, run.ckpt)
    run.log(st_msg)
    return model


def load_stage1(run, dev):
    ck = load_checkpoint(run.ckpt)
    model = build_model(config_from_dict(ck["model_config"]))
    model.load_state_dict(ck["model"])
    return model.to(dev), ck


# ---------------------------------------------------------------------------- stage 2

def cmd_stage2(cfg, run, args):
    s2 = cfg.get("stage2", {})
    dev = pick_device(args.device)
    amp = not args.no_amp
    seed = cfg["train"].get("seed", 0)
    torch.manual_seed(seed + 7)
    sp = tok.load(run.tokenizer)
    model, _ = load_stage1(run, dev)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    head = model.add_classifier()
    head.requires_grad_(True)
    opt = torch.optim.AdamW(head.parameters(), lr=s2.get("lr", 1e-3), weight_decay=0.0)
    c2 = json.loads(json.dumps(cfg))
    for k in ("batch_tokens", "batch_size"):
        if k in s2:
            c2["train"][k] = s2[k]
    train, valid = build_data(c2, sp, seed + 7)
    minutes = args.minutes if args.minutes else s2.get("minutes", 5)
    max_steps = args.max_steps or s2.get("max_steps", 10 ** 9)
    t0 = time.time()
    step, epoch, batches, idx = 0, 0, train.epoch_batches(0), 0
    run.log(f"stage2: classifier on the frozen backbone, {minutes} min / {max_steps} steps max")
    while step < max_steps and time.time() - t0 < minutes * 60:
        if idx >= len(batches):
            epoch, idx = epoch + 1, 0
            batches = train.epoch_batches(epoch)
        b = to_device(collate(train, model, batches[idx]), dev)
        idx += 1
        with torch.no_grad(), amp_ctx(dev, amp):
            hidden, labels = forward_hidden(model, b)
            valid_pos = (labels != -100).reshape(-1)
            h = hidden.reshape(hidden.shape[0], -1, hidden.shape[-1])[:, valid_pos].float()
            y = calm_stage2_labels(model, h)
        z = classifier_logits(model, h[:-1])
        loss = calm_stage2_loss(z, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % s2.get("log_every", 20) == 0:
            acc = ((z > 0).float() == y).float().mean(-1)
            run.log(f"stage2 step {step} loss {float(loss):.4f} | positive rate per layer "
                    f"{fmt_layers(y.mean(-1))} | accuracy {fmt_layers(acc)}")
    save_atomic({"classifier": head.state_dict(), "steps": step}, run.stage2)
    run.log(f"stage2 done: {step} steps -> {run.stage2}")


# ---------------------------------------------------------------------------- export

def cmd_export(cfg, run, args):
    model, ck = load_stage1(run, torch.device("cpu"))
    if os.path.exists(run.stage2) and not args.no_classifier:
        head = load_checkpoint(run.stage2)["classifier"]
        model.add_classifier().load_state_dict(head)
    out = args.out or os.path.join(run.dir, "model")
    save_model_dir(model.eval(), out, tokenizer_path=run.tokenizer, dtype=args.dtype,
                   metadata={"calm_run": cfg["name"], "steps": str(ck["sched"]["step"])})
    sched = ck["sched"]
    lines = [f"# {cfg['name']}", "",
             f"CALM {cfg['arch']} model trained by training/train.py (every decoder layer is an exit).", "",
             f"- training data: {cfg['data']['train']}",
             f"- steps: {sched['step']}, target tokens seen: {sched['tokens']}, "
             f"wall-clock: {sched['elapsed'] / 60:.1f} min",
             "- stage-1 command (each session of it, resumes included):",
             *[f"  `{c}`" for c in sched.get("commands", ["(not recorded)"])],
             f"- weights: {args.dtype}; classifier head: {'yes' if model.classifier is not None else 'no'}"]
    if ck.get("valid_ce"):
        lines.append(f"- held-out cross-entropy per exit (1..L): {fmt_layers(ck['valid_ce'])}")
    lines += ["", "Config:", "", "```json", json.dumps(cfg, indent=2), "```", ""]
    with open(os.path.join(out, "MODEL.md"), "w") as f:
        f.write("\n".join(lines))
    # smoke test: greedy decode of one held-out example
    sp = tok.load(run.tokenizer)
    if cfg["data"]["kind"] == "pairs":
        text = D.read_pairs(repo_path(cfg["data"]["train"]), 1)[0][0]
    else:
        text = " ".join(D.read_lines(repo_path(cfg["data"]["train"]), 1)[0].split()[:20])
    ids = tok.encode_prompt(sp, text, model.arch)
    gen = greedy_generate(model, ids, 40)
    run.log(f"export: {out} ({args.dtype}); sample: {text!r} -> {sp.decode(gen)!r}")


# ---------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("command", choices=["tokenizer", "stage1", "stage2", "export", "all"])
    ap.add_argument("--config", required=True)
    ap.add_argument("--name", help="run name (default: the config's)")
    ap.add_argument("--runs-dir", help="default training/runs")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--minutes", type=float, help="wall-clock budget (stage1: sizes the schedule)")
    ap.add_argument("--max-steps", type=int)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--ckpt-minutes", type=float, help="checkpoint interval (default: config)")
    ap.add_argument("--snapshot-minutes", type=float,
                    help="also keep the weights every N minutes in runs/<name>/snapshots/")
    ap.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    ap.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--force-tokenizer", action="store_true")
    ap.add_argument("--out", help="export directory (default runs/<name>/model)")
    ap.add_argument("--dtype", default="F16", choices=["F32", "F16", "BF16"])
    ap.add_argument("--no-classifier", action="store_true")
    ap.add_argument("--stage2-minutes", type=float)
    args = ap.parse_args(argv)
    args.command_line = " ".join(["training/train.py"] + list(sys.argv[1:] if argv is None else argv))
    torch.set_num_threads(args.threads or 1)
    cfg = load_config(args.config, args.set, args.name)
    run = Run(cfg, args.runs_dir)
    if args.ckpt_minutes is None:
        args.ckpt_minutes = cfg["train"].get("ckpt_minutes", 10)
    run.log("command: " + args.command_line)
    if args.command in ("tokenizer", "all"):
        cmd_tokenizer(cfg, run, force=args.force_tokenizer)
    if args.command in ("stage1", "all"):
        cmd_stage1(cfg, run, args)
    if args.command in ("stage2", "all"):
        if args.command == "all":
            args.minutes, args.max_steps = args.stage2_minutes, None
        cmd_stage2(cfg, run, args)
    if args.command in ("export", "all"):
        cmd_export(cfg, run, args)


if __name__ == "__main__":
    main()
