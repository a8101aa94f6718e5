"""Shared text normalisation for the CALM Studio training corpora.

Everything is mapped to a small, mostly-ASCII alphabet so that the tokenizer
does not waste entries on typographic variants: curly quotes become straight
quotes, dashes become "--" (the Brown corpus convention), the ellipsis
becomes "...", and all runs of whitespace become one space.
"""

import re
import unicodedata

_CHAR_MAP = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
    "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
    "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2014": " -- ", "\u2013": "-", "\u2012": "-", "\u2015": " -- ",
    "\u2010": "-", "\u2011": "-", "\u00ad": "",
    "\u2026": "...",
    "\u00a0": " ", "\u2009": " ", "\u200a": " ", "\u2002": " ", "\u2003": " ",
    "\u200b": "", "\u200c": "", "\u200d": "", "\ufeff": "",
}
_TRANS = str.maketrans(_CHAR_MAP)
_WS = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:?!)\]])")
_SPACE_AFTER_OPEN = re.compile(r"([(\[]) +")
_DASHES = re.compile(r"\s*--\s*")


def normalize(text: str) -> str:
    """Return text with unified quotes/dashes and single spaces."""
    text = unicodedata.normalize("NFC", text).translate(_TRANS)
    text = _WS.sub(" ", text).strip()
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _SPACE_AFTER_OPEN.sub(r"\1", text)
    text = _DASHES.sub("--", text)
    return text
