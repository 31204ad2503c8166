"""Read word-tagged data for named-entity recognition.

Three formats:

- CoNLL: one ``word ... tag`` line per word (first column the word, last the tag), a blank line between
  sentences, ``-DOCSTART-`` lines skipped; IOB1 files (CoNLL-2003's originals) are converted to IOB2.
- JSONL with a list of words and a list of tags per line (``{"tokens": [...], "tags": [...]}``).
- JSONL with raw text and character-offset entities (``{"text": ..., "entities": [{"start", "end", "label"}]}``),
  split into words by `tunekit.data.words.split_words`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tunekit.data.iob import OUTSIDE, is_iob1, split_tag, tags_from_spans, to_iob2
from tunekit.data.readers import read_text_file
from tunekit.data.words import split_words
from tunekit.errors import DataError

log = logging.getLogger("tunekit")
JSON_SUFFIXES = (".jsonl", ".json")
DOCUMENT_START = "-DOCSTART-"


@dataclass
class TaggedSentences:
    """Sentences as word lists with one IOB2 tag per word (``tags`` None for unlabeled data)."""

    words: list[list[str]]
    tags: list[list[str]] | None
    source: str

    def __len__(self) -> int:
        return len(self.words)

    def subset(self, indices: Sequence[int]) -> TaggedSentences:
        return TaggedSentences([self.words[i] for i in indices],
                               None if self.tags is None else [self.tags[i] for i in indices], self.source)


def read_tagged(path: str | Path, *, encoding: str | None = None, tokens_key: str = "tokens", tags_key: str = "tags",
                text_key: str = "text", entities_key: str = "entities") -> TaggedSentences:
    """Read a CoNLL file, or a JSONL file of words + tags or of text + character-offset entities.

    Raises:
        DataError: a missing or empty file, a malformed line, a tag that is not IOB, a word/tag count mismatch.
    """
    path = Path(path)
    if path.is_dir() or not path.exists():
        raise DataError(f"tagged data file {path} does not exist", "point `data.train` at a CoNLL or JSONL file")
    text = read_text_file(path, encoding)
    if not text.strip():
        raise DataError(f"data file {path} is empty", "add tagged sentences to it")
    if path.suffix.lower() in JSON_SUFFIXES:
        words, tags = _parse_jsonl(text, path, tokens_key, tags_key, text_key, entities_key)
    else:
        words, tags = _parse_conll(text, path)
    if not words:
        raise DataError(f"{path} holds no sentences", "check the format: CoNLL lines `word tag`, or JSONL")
    if tags is not None:
        for i, sentence in enumerate(tags):
            for tag in sentence:
                _check_tag(tag, path, i)
        if is_iob1(tags):
            log.info("%s uses IOB1 tags; converting to IOB2", path)
            tags = [to_iob2(sentence) for sentence in tags]
    return TaggedSentences(words, tags, str(path))


def _check_tag(tag: str, path: Path, sentence: int) -> None:
    try:
        split_tag(tag)
    except DataError as exc:
        raise DataError(f"{path}, sentence {sentence + 1}: {exc.problem}", exc.fix) from None


def _parse_conll(text: str, path: Path) -> tuple[list[list[str]], list[list[str]]]:
    words: list[list[str]] = []
    tags: list[list[str]] = []
    sentence_words: list[str] = []
    sentence_tags: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        columns = line.split()
        if not columns or columns[0] == DOCUMENT_START:
            if sentence_words:
                words.append(sentence_words)
                tags.append(sentence_tags)
                sentence_words, sentence_tags = [], []
            continue
        if len(columns) < 2:
            raise DataError(f"{path}, line {number}: expected `word tag`, found {line.strip()!r}",
                            "give each word line at least two columns (word first, IOB tag last)")
        sentence_words.append(columns[0])
        sentence_tags.append(columns[-1])
    if sentence_words:
        words.append(sentence_words)
        tags.append(sentence_tags)
    return words, tags


def _parse_jsonl(text: str, path: Path, tokens_key: str, tags_key: str, text_key: str,
                 entities_key: str) -> tuple[list[list[str]], list[list[str]] | None]:
    words: list[list[str]] = []
    tags: list[list[str]] = []
    labeled = True
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {number} is not valid JSON: {exc}",
                            "write one JSON object per line") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}, line {number} is not a JSON object", "write one JSON object per line")
        if tokens_key in row:
            sentence = [str(w) for w in row[tokens_key]]
            sentence_tags = row.get(tags_key)
        elif text_key in row:
            sentence, sentence_tags = _words_and_tags_from_spans(row, text_key, entities_key, path, number)
        else:
            raise DataError(f"{path}, line {number} has neither `{tokens_key}` nor `{text_key}`",
                            f"give each line `{tokens_key}` + `{tags_key}` lists, or `{text_key}` + `{entities_key}`")
        if sentence_tags is None:
            labeled = False
        elif len(sentence_tags) != len(sentence):
            raise DataError(f"{path}, line {number}: {len(sentence)} words but {len(sentence_tags)} tags",
                            "give exactly one tag per word")
        words.append(sentence)
        tags.append([str(t) for t in sentence_tags or []])
    return words, tags if labeled else None


def _words_and_tags_from_spans(row: dict, text_key: str, entities_key: str, path: Path,
                               number: int) -> tuple[list[str], list[str] | None]:
    text = str(row[text_key])
    words = split_words(text)
    if entities_key not in row:
        return [w.text for w in words], None
    spans = []
    for entity in row[entities_key]:
        try:
            start, end, label = int(entity["start"]), int(entity["end"]), str(entity["label"])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}, line {number}: entity {entity!r} lacks start, end or label",
                            'write entities as {"start": 0, "end": 5, "label": "PER"}') from None
        if not 0 <= start < end <= len(text):
            raise DataError(f"{path}, line {number}: entity offsets {start}–{end} fall outside the text",
                            "use character offsets into the text, end exclusive")
        covered = [i for i, w in enumerate(words) if w.start < end and w.end > start]
        if not covered:
            raise DataError(f"{path}, line {number}: entity {text[start:end]!r} covers no word",
                            "check the entity's offsets")
        spans.append((label, covered[0], covered[-1] + 1))
    return [w.text for w in words], tags_from_spans(len(words), spans)


def entity_types(tags: Sequence[Sequence[str]]) -> list[str]:
    """The entity types in ``tags``, sorted."""
    return sorted({split_tag(tag)[1] for sentence in tags for tag in sentence if tag != OUTSIDE})
