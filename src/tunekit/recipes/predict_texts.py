"""Recipe: classify (or tag) texts given on the command line or in a file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunekit.compress.source import tagger_not_compressed
from tunekit.data.prepare import load_labeled
from tunekit.data.prepare_tagged import load_tagged
from tunekit.data.readers import read_text_file
from tunekit.errors import DataError
from tunekit.inference.predictor import BLOCK_SIZE, Predictor
from tunekit.inference.tagger import TagPredictor
from tunekit.run.setup import run_task


def predict_texts(run_dir: Path, texts: list[str], file: Path | None = None,
                  compressed: bool = False) -> Iterator[dict[str, Any]]:
    """Yield ``{"text", "label", "probabilities"}`` per input text, in input order (``{"text", "entities"}``,
    or ``{"tokens", "tags"}`` for pre-split sentences in a data file, from a tagger run). ``compressed``: classify
    with the run's ONNX model (`tunekit compress`)."""
    if run_task(run_dir) == "token_classification":
        if compressed:
            raise tagger_not_compressed(run_dir, "drop --compressed")
        yield from tag_texts(run_dir, texts, file)
        return
    predictor = Predictor.from_run_dir(run_dir, compressed=compressed)
    pairs = None
    if file is not None:
        if file.suffix.lower() == ".txt":  # one text per line
            texts = [line for line in read_text_file(file, predictor.config.data.encoding).splitlines()
                     if line.strip()]
        else:
            data = load_labeled(str(file), predictor.config.data, require_labels=False)
            texts, pairs = data.texts, data.pairs
    if not texts:
        raise DataError("no texts to classify", 'pass texts as arguments or --file FILE')
    start = 0
    for probabilities in predictor.iter_predict_proba(texts, pairs):
        labels = predictor.labels_from_probabilities(probabilities)
        for i, row in enumerate(probabilities):
            yield {"text": texts[start + i], "label": labels[i],
                   "probabilities": {str(c): round(float(p), 6) for c, p in zip(predictor.classes, row, strict=True)}}
        start += len(probabilities)


def tag_texts(run_dir: Path, texts: list[str], file: Path | None = None) -> Iterator[dict[str, Any]]:
    """`predict_texts` for a tagger: entities with character offsets for raw texts (arguments or a .txt file,
    one text per line); one tag per word for the sentences of a CoNLL/JSONL file."""
    predictor = TagPredictor.from_run_dir(run_dir)
    config = predictor.config
    if file is not None and file.suffix.lower() != ".txt":
        sentences = load_tagged(str(file), config.data, config.tagging).words
        for start in range(0, len(sentences), BLOCK_SIZE):
            block = sentences[start:start + BLOCK_SIZE]
            for words, tags in zip(block, predictor.predict(block), strict=True):
                yield {"tokens": words, "tags": tags}
        return
    if file is not None:
        texts = [line for line in read_text_file(file, config.data.encoding).splitlines() if line.strip()]
    if not texts:
        raise DataError("no texts to tag", "pass texts as arguments or --file FILE")
    for start in range(0, len(texts), BLOCK_SIZE):
        block = texts[start:start + BLOCK_SIZE]
        for text, entities in zip(block, predictor.extract(block), strict=True):
            yield {"text": text, "entities": entities}
