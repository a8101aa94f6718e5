#!/usr/bin/python3
"""How repetitive a set of continuations is: reads the JSONL that
`calm generate --data IN --out OUT` writes and prints, over its "text"
fields scored on words (lowercased, split at every character that is not a
letter or digit, as calm's metrics split them), the longest repeated span
(the most words in a row that occur twice or more in one continuation;
the occurrences may overlap) as mean +- standard error and maximum, and
distinct-2 and distinct-3 (unique word n-grams over all n-grams, pooled).

    /usr/bin/python3 bench/repetition_stats.py OUT.jsonl
"""
import json
import math
import re
import sys


def words(text):
    return [w for w in re.split(r"[\W_]+", text.lower()) if w]


def longest_repeated_span(ws):
    """Longest run of words that occurs at least twice (by dynamic programming over pairs of positions)."""
    n, best = len(ws), 0
    prev = [0] * (n + 1)
    for i in range(1, n + 1):
        cur = [0] * (n + 1)
        for j in range(i + 1, n + 1):
            if ws[i - 1] == ws[j - 1]:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def distinct(texts, n):
    grams = [tuple(ws[i:i + n]) for ws in texts for i in range(len(ws) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def main(path):
    with open(path) as f:
        texts = [words(json.loads(line)["text"]) for line in f if line.strip()]
    spans = [longest_repeated_span(ws) for ws in texts]
    k = len(spans)
    mean = sum(spans) / k
    se = math.sqrt(sum((s - mean) ** 2 for s in spans) / (k - 1) / k) if k > 1 else 0.0
    print(f"{k} continuations, {sum(map(len, texts)) / k:.1f} words on average")
    print(f"longest repeated span (words): mean {mean:.2f} +- {se:.2f}, max {max(spans)}")
    print(f"distinct-2 {distinct(texts, 2):.3f}, distinct-3 {distinct(texts, 3):.3f}")


if __name__ == "__main__":
    main(sys.argv[1])
