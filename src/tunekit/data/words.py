"""Split raw text into words with character offsets, so entity predictions map back to the original string.

Latin-script text splits into runs of letters/digits and single punctuation marks; CJK text has no spaces
between words, so each Han, kana or Hangul character is a word of its own (as in Weibo NER and the
Chinese BERT models).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\s{_CJK}\W]+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class Word:
    text: str
    start: int
    end: int  # exclusive: text == original[start:end]


def split_words(text: str) -> list[Word]:
    """Words of ``text`` in order, each with its ``[start, end)`` character offsets."""
    return [Word(match.group(), match.start(), match.end()) for match in _WORD.finditer(text)]
