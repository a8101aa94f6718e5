"""Parse the King James Version (Debian bible-kjv) and the World English
Bible (Debian sword-text-web, exported with mod2imp) into clean verses.

Both parsers return {(book_index, chapter, verse): text} for the 66 books of
the Protestant canon, book_index 0..65 in canonical order.
"""

import re

from textnorm import normalize

# Short names used in the "id" field ("Gen 1:1"), canonical order.
BOOK_ABBR = [
    "Gen", "Exod", "Lev", "Num", "Deut", "Josh", "Judg", "Ruth", "1Sam", "2Sam",
    "1Kgs", "2Kgs", "1Chr", "2Chr", "Ezra", "Neh", "Esth", "Job", "Ps", "Prov",
    "Eccl", "Song", "Isa", "Jer", "Lam", "Ezek", "Dan", "Hos", "Joel", "Amos",
    "Obad", "Jonah", "Mic", "Nah", "Hab", "Zeph", "Hag", "Zech", "Mal",
    "Matt", "Mark", "Luke", "John", "Acts", "Rom", "1Cor", "2Cor", "Gal", "Eph",
    "Phil", "Col", "1Thess", "2Thess", "1Tim", "2Tim", "Titus", "Phlm", "Heb",
    "Jas", "1Pet", "2Pet", "1John", "2John", "3John", "Jude", "Rev",
]

# Book names as the two tools print them, same order as BOOK_ABBR.
KJV_NAMES = [
    "Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua",
    "Judges", "Ruth", "1 Samuel", "2 Samuel", "1 Kings", "2 Kings",
    "1 Chronicles", "2 Chronicles", "Ezra", "Nehemiah", "Esther", "Job",
    "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon", "Isaiah",
    "Jeremiah", "Lamentations", "Ezekiel", "Daniel", "Hosea", "Joel", "Amos",
    "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai",
    "Zechariah", "Malachi", "Matthew", "Mark", "Luke", "John", "Acts",
    "Romans", "1 Corinthians", "2 Corinthians", "Galatians", "Ephesians",
    "Philippians", "Colossians", "1 Thessalonians", "2 Thessalonians",
    "1 Timothy", "2 Timothy", "Titus", "Philemon", "Hebrews", "James",
    "1 Peter", "2 Peter", "1 John", "2 John", "3 John", "Jude", "Revelation",
]


def _sword_name(kjv_name: str) -> str:
    """SWORD spells "1 Samuel" as "I Samuel" and Revelation differently."""
    roman = {"1": "I", "2": "II", "3": "III"}
    first, _, rest = kjv_name.partition(" ")
    if first in roman and rest:
        return roman[first] + " " + rest
    if kjv_name == "Revelation":
        return "Revelation of John"
    return kjv_name


WEB_NAMES = [_sword_name(n) for n in KJV_NAMES]


def parse_kjv(path):
    """Parse `bible -m ... "gen1:1-rev22:21"` output."""
    index = {name: i for i, name in enumerate(KJV_NAMES)}
    head = re.compile(r"^(.+) (\d+)$")
    verse_re = re.compile(r"^\s+(\d+) (.*)$")
    verses = {}
    book = chapter = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            m = verse_re.match(line)
            if m:
                if book is None:
                    raise ValueError("verse before any chapter heading: " + line)
                verses[(book, chapter, int(m.group(1)))] = normalize(m.group(2))
                continue
            m = head.match(line)
            if not m or m.group(1) not in index:
                raise ValueError("unexpected KJV line: " + line)
            book, chapter = index[m.group(1)], int(m.group(2))
    return verses


_NOTE = re.compile(r"<note\b.*?</note>", re.S)
_TITLE = re.compile(r"<title\b[^>]*?(?:/>|>.*?</title>)", re.S)
_SPEAKER = re.compile(r"<speaker\b[^>]*?(?:/>|>.*?</speaker>)", re.S)
_INLINE_TAG = re.compile(r"</?(?:w|q|seg|name|transChange|hi|foreign|rdg|catchWord|d)\b[^>]*>")
_TAG = re.compile(r"<[^>]*>")
_PARA_START = re.compile(r'<(?:div\b[^>]*\bsID="[^"]*"[^>]*type="x-p"|lg\b[^>]*\bsID=)')
_KEY = re.compile(r"^\$\$\$(.+) (\d+):(\d+)$")


def clean_osis(raw: str) -> str:
    """OSIS verse markup -> plain text (no notes, titles, Strong's numbers)."""
    raw = raw.split("<chapter eID=", 1)[0]   # drop book back matter
    raw = _NOTE.sub(" ", raw)
    raw = _TITLE.sub(" ", raw)
    raw = _SPEAKER.sub(" ", raw)
    raw = _INLINE_TAG.sub("", raw)            # <w lemma=...>word</w> -> word
    raw = _TAG.sub(" ", raw)                  # block tags: line/paragraph breaks
    # a removed note or line break next to a quote leaves a stray space
    raw = re.sub(r"([\u201c\u2018])\s+", r"\1", raw)
    raw = re.sub(r"([\w.,;:?!])\s+([\u201d\u2019])", r"\1\2", raw)
    raw = (raw.replace("&lt;", "<").replace("&gt;", ">")
           .replace("&quot;", '"').replace("&amp;", "&"))
    return normalize(raw)


def parse_web_imp(path, books=None):
    """Parse mod2imp output. Returns (verses, paragraph_starts).

    books: list of SWORD book names to keep (default: the 66 of KJV_NAMES,
    indexed 0..65). paragraph_starts is the set of keys whose verse opens a
    paragraph or a stanza in the WEB layout (used to build prose paragraphs).
    """
    names = books if books is not None else WEB_NAMES
    index = {name: i for i, name in enumerate(names)}
    verses, starts = {}, set()
    key, buf = None, []

    def flush():
        if key is not None:
            raw = "".join(buf)
            text = clean_osis(raw)
            if text:
                verses[key] = text
                if _PARA_START.search(raw.split("<chapter eID=", 1)[0]):
                    starts.add(key)

    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("$$$"):
                flush()
                key, buf = None, []
                m = _KEY.match(line.rstrip("\n"))
                if m and m.group(1) in index and int(m.group(3)) > 0:
                    key = (index[m.group(1)], int(m.group(2)), int(m.group(3)))
            elif key is not None:
                buf.append(line)
        flush()
    return verses, starts
