"""Training data: tokenised once, batched deterministically.

pairs (encoder-decoder): a JSON-lines file of {"input", "reference"}; source =
input ids + eos, target = reference ids + eos; batches of similar lengths up to
a token budget, padded with pad (0), labels -100 on padding.

stream (decoder-only): a text file, one paragraph per line; each paragraph
becomes bos + ids + eos, all concatenated and cut into windows of seq_len + 1.

Batch order is a function of (seed, epoch) only, so a run resumed from
(epoch, index) sees exactly the batches it would have seen.
"""
from __future__ import annotations

import json
import random
from typing import List

import torch


def read_pairs(path, limit=0):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                rows.append((r["input"], r["reference"]))
                if limit and len(rows) >= limit:
                    break
    return rows


def read_lines(path, limit=0):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(line)
                if limit and len(out) >= limit:
                    break
    return out


def split_heldout(items, every):
    """Deterministic hold-out: every `every`-th item goes to validation."""
    if every <= 0:
        return items, []
    train = [x for i, x in enumerate(items) if i % every != every - 1]
    valid = [x for i, x in enumerate(items) if i % every == every - 1]
    return train, valid


class PairBatches:
    """Length-bucketed batches of (src, tgt) id lists for T5."""

    def __init__(self, sp, pairs, max_src, max_tgt, batch_tokens, seed=0, pad_id=0):
        eos = sp.eos_id()
        srcs = sp.encode([a for a, _ in pairs])
        tgts = sp.encode([b for _, b in pairs])
        self.examples = [(s[:max_src - 1] + [eos], t[:max_tgt - 1] + [eos]) for s, t in zip(srcs, tgts)]
        self.batch_tokens = batch_tokens
        self.seed = seed
        self.pad_id = pad_id

    def epoch_batches(self, epoch) -> List[List[int]]:
        rng = random.Random(self.seed * 1000003 + epoch)
        idx = list(range(len(self.examples)))
        rng.shuffle(idx)
        # sort within chunks of 100 batches' worth, so lengths are similar
        chunk = 4096
        batches = []
        for c in range(0, len(idx), chunk):
            part = sorted(idx[c:c + chunk], key=lambda i: max(len(self.examples[i][0]), len(self.examples[i][1])))
            cur, cur_max = [], 0
            for i in part:
                ln = max(len(self.examples[i][0]), len(self.examples[i][1]))
                if cur and max(cur_max, ln) * (len(cur) + 1) > self.batch_tokens:
                    batches.append(cur)
                    cur, cur_max = [], 0
                cur.append(i)
                cur_max = max(cur_max, ln)
            if cur:
                batches.append(cur)
        rng.shuffle(batches)
        return batches

    def collate(self, ids, start_id=0):
        ex = [self.examples[i] for i in ids]
        S = max(len(s) for s, _ in ex)
        T = max(len(t) for _, t in ex)
        src = torch.full((len(ex), S), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ex), S), dtype=torch.long)
        dec = torch.full((len(ex), T), self.pad_id, dtype=torch.long)
        labels = torch.full((len(ex), T), -100, dtype=torch.long)
        for b, (s, t) in enumerate(ex):
            src[b, :len(s)] = torch.tensor(s)
            mask[b, :len(s)] = 1
            labels[b, :len(t)] = torch.tensor(t)
            dec[b, 0] = start_id
            dec[b, 1:len(t)] = torch.tensor(t[:-1])
        return {"input_ids": src, "attention_mask": mask, "decoder_input_ids": dec, "labels": labels}


class StreamBatches:
    """Packed windows of a token stream for a decoder-only model."""

    def __init__(self, sp, lines, seq_len, batch_size, seed=0):
        stream = []
        for ids in sp.encode(lines):
            stream.append(sp.bos_id())
            stream.extend(ids)
            stream.append(sp.eos_id())
        self.data = torch.tensor(stream, dtype=torch.long)
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        self.n_windows = max(1, (len(self.data) - 1) // seq_len)

    def epoch_batches(self, epoch):
        rng = random.Random(self.seed * 1000003 + epoch)
        idx = list(range(self.n_windows))
        rng.shuffle(idx)
        return [idx[i:i + self.batch_size] for i in range(0, len(idx), self.batch_size)]

    def collate(self, ids):
        rows = []
        for w in ids:
            a = w * self.seq_len
            chunk = self.data[a:a + self.seq_len + 1]
            if len(chunk) < self.seq_len + 1:
                chunk = torch.cat([chunk, torch.full((self.seq_len + 1 - len(chunk),), -100)])
            rows.append(chunk)
        x = torch.stack(rows)
        inp = x[:, :-1].clone()
        inp[inp < 0] = 0
        return {"input_ids": inp, "labels": x[:, 1:].clone()}
