#!/usr/bin/env python3
"""Copy a held-out JSONL set into resources/, keeping at most N lines.

usage: select_shipped.py IN.jsonl OUT.jsonl N

The kept lines are the N with the smallest SHA-256 of their "input" (so every
source and every part of the Bible is represented), written in a random order
drawn with the fixed seed SHUFFLE_SEED (Python's random.Random, whose shuffle
is the same on every platform and version since 3.2). Deterministic.

The order matters: the held-out sets are built in corpus order (book, chapter,
verse), and `calm ... --limit N` or any first-N subset of a file in that order
is a handful of chapters, not a random sample; Learn then Test assumes
exchangeable examples.
"""

import hashlib
import json
import os
import random
import sys

SHUFFLE_SEED = 16


def main(src, dst, n):
    with open(src, encoding="utf-8") as f:
        lines = [l for l in f if l.strip()]
    ranked = sorted(range(len(lines)), key=lambda i: hashlib.sha256(
        json.loads(lines[i])["input"].encode("utf-8")).hexdigest())
    keep = sorted(ranked[:int(n)])  # original order first, so the shuffle does not depend on the hashes
    random.Random(SHUFFLE_SEED).shuffle(keep)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    with open(dst, "w", encoding="utf-8", newline="\n") as f:
        for i in keep:
            f.write(lines[i])
    print("%s: %d of %d lines" % (dst, len(keep), len(lines)))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
