#!/usr/bin/env python3
"""Build the KJV -> WEB verse-pair corpus.

usage: make_kjv2web.py KJV_TXT WEB_IMP OUT_DIR

Pairs are aligned by (book, chapter, verse). Whole chapters are held out:
chapters are ordered by the SHA-256 of "Book chapter" (e.g. "Gen 1") and
taken in that order into calibration until it has CAL_TARGET pairs, then
into test until it has TEST_TARGET pairs; every other chapter is train.
Within calibration and test a KJV input appears once, no calibration input
appears in test, and train drops pairs whose input is held out.
"""

import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bible  # noqa: E402

CAL_TARGET = 1500
TEST_TARGET = 1500
MAX_LENGTH_RATIO = 3.0   # words; above this the verses are not parallel


def chapter_key(book, chapter):
    return "%s %d" % (bible.BOOK_ABBR[book], chapter)


def main(kjv_path, web_path, out_dir):
    kjv = bible.parse_kjv(kjv_path)
    web, _ = bible.parse_web_imp(web_path)
    chapters = {}
    dropped_empty = dropped_ratio = 0
    for key in sorted(set(kjv) | set(web)):
        src, ref = kjv.get(key, ""), web.get(key, "")
        if not src or not ref:
            dropped_empty += 1
            continue
        a, b = len(src.split()), len(ref.split())
        if max(a, b) > MAX_LENGTH_RATIO * min(a, b):
            dropped_ratio += 1
            continue
        book, ch, v = key
        chapters.setdefault((book, ch), []).append(
            {"input": src, "reference": ref,
             "id": "%s:%d" % (chapter_key(book, ch), v)})

    order = sorted(chapters, key=lambda c: hashlib.sha256(
        chapter_key(*c).encode()).hexdigest())
    split_of = {}
    counts = {"calibration": 0, "test": 0}
    for c in order:
        if counts["calibration"] < CAL_TARGET:
            name = "calibration"
        elif counts["test"] < TEST_TARGET:
            name = "test"
        else:
            name = "train"
        split_of[c] = name
        if name != "train":
            counts[name] += len(chapters[c])

    out = {"train": [], "calibration": [], "test": []}
    seen_heldout = set()
    for name in ("calibration", "test"):
        for c in sorted(c for c in chapters if split_of[c] == name):
            for p in chapters[c]:
                if p["input"] not in seen_heldout:
                    seen_heldout.add(p["input"])
                    out[name].append(p)
    dropped_dup = 0
    for c in sorted(c for c in chapters if split_of[c] == "train"):
        for p in chapters[c]:
            if p["input"] in seen_heldout:
                dropped_dup += 1
            else:
                out["train"].append(p)

    os.makedirs(out_dir, exist_ok=True)
    for name, rows in out.items():
        with open(os.path.join(out_dir, name + ".jsonl"), "w",
                  encoding="utf-8", newline="\n") as f:
            for p in rows:
                f.write(json.dumps(p, ensure_ascii=False) + "\n")
    with open(os.path.join(out_dir, "heldout_chapters.txt"), "w",
              encoding="utf-8", newline="\n") as f:
        for c in sorted(split_of):
            if split_of[c] != "train":
                f.write("%s\t%s\n" % (split_of[c], chapter_key(*c)))
    print("kjv2web: KJV %d verses, WEB %d verses; dropped %d empty, %d "
          "non-parallel, %d train duplicates of held-out inputs"
          % (len(kjv), len(web), dropped_empty, dropped_ratio, dropped_dup))
    for name in ("train", "calibration", "test"):
        n_ch = sum(1 for c in split_of if split_of[c] == name)
        print("kjv2web %-11s %6d pairs from %4d chapters"
              % (name, len(out[name]), n_ch))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
