"""Recipe: classify texts given on the command line or in a file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunekit.data.prepare import load_labeled
from tunekit.data.readers import read_text_file
from tunekit.errors import DataError
from tunekit.inference.predictor import Predictor


def predict_texts(run_dir: Path, texts: list[str], file: Path | None = None) -> Iterator[dict[str, Any]]:
    """Yield ``{"text", "label", "probabilities"}`` per input text, in input order."""
    predictor = Predictor.from_run_dir(run_dir)
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
