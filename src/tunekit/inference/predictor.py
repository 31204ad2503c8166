"""`Predictor`: texts in, class probabilities out, from a run directory or an in-memory model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tunekit.atomic import read_json
from tunekit.compress.onnx_classifier import OnnxClassifier
from tunekit.compress.source import check_compressed_source
from tunekit.config import RunConfig, load_config
from tunekit.data.examples import check_texts
from tunekit.data.labels import LabelMap
from tunekit.data.tokenize import EncodedTexts, encode_texts
from tunekit.errors import TunekitError
from tunekit.inference.batch import example_probabilities, pool_chunks
from tunekit.inference.bf16_weights import InferenceWeights
from tunekit.run.layout import RunLayout
from tunekit.run.model_io import load_model, load_tokenizer
from tunekit.training.precision import resolve_bf16

BLOCK_SIZE = 4096  # texts tokenised and predicted at a time: bounds memory on large inputs


class Predictor:
    """Batched, length-sorted inference with the run's tokenisation and label set.

    Everything downstream of training (evaluate, explain, audit, serve) consumes this interface:
    ``predict_proba(texts) -> (n_texts, n_classes)``.

    ``frozen``: the model's weights will not change (a loaded run), so under bf16 it runs as a bf16 copy
    (`bf16_copy`) instead of casting Linear weights on every call; ``model`` itself stays fp32.
    ``compressed``: a module that computes the probabilities instead of ``model`` (the run's ONNX model,
    `tunekit.compress`); ``model`` stays for what needs gradients (integrated gradients).
    """

    def __init__(self, model: nn.Module, tokenizer, label_map: LabelMap, config: RunConfig,
                 thresholds: np.ndarray | None = None, batch_size: int | None = None, frozen: bool = False,
                 compressed: nn.Module | None = None) -> None:
        self.model = model.eval()
        self.compressed = compressed
        self._weights = InferenceWeights(self.model, frozen)
        self.tokenizer = tokenizer
        self.label_map = label_map
        self.config = config
        self.thresholds = np.full(label_map.num_labels, 0.5) if thresholds is None else np.asarray(thresholds)
        self.batch_size = batch_size or config.eval.batch_size
        self.device = next(model.parameters()).device
        self.bf16 = resolve_bf16(config.train.bf16, self.device)

    @classmethod
    def from_run_dir(cls, run_dir: str | Path, batch_size: int | None = None, compressed: bool = False) -> Predictor:
        """Load a finished run directory (never unpickling anything); ``compressed``: classify with the ONNX model
        `tunekit compress` wrote there.

        Raises:
            RunDirError: the run is unfinished or unreadable, or ``compressed`` and it has no readable compressed model.
        """
        layout = RunLayout(Path(run_dir)).require_finished()
        onnx = OnnxClassifier(layout.compressed_model) if compressed else None
        if onnx is not None:
            check_compressed_source(layout)
        config = load_config(layout.config)
        labels = read_json(layout.labels)
        label_map = LabelMap.from_json(labels)
        model = load_model(layout.model, config, label_map)
        thresholds = np.asarray(labels["thresholds"]) if labels.get("thresholds") else None
        return cls(model, load_tokenizer(layout.model), label_map, config, thresholds, batch_size, frozen=True,
                   compressed=onnx)

    @property
    def classes(self) -> list[Any]:
        return list(self.label_map.classes)

    def iter_predict_proba(self, texts: Sequence[str], pairs: Sequence[str] | None = None,
                           block_size: int = BLOCK_SIZE) -> Iterator[np.ndarray]:
        """Probabilities block by block, in input order: memory stays bounded on any input size."""
        data = self.config.data
        for start in range(0, len(texts), block_size):
            block = list(texts[start:start + block_size])
            block_pairs = None if pairs is None else list(pairs[start:start + block_size])
            encoded = encode_texts(self.tokenizer, block, block_pairs, max_seq_len=data.max_seq_len,
                                   long_text=data.long_text, chunk_stride=data.chunk_stride)
            yield self.pooled_probabilities(encoded, len(block))

    def pooled_probabilities(self, encoded: EncodedTexts, n_texts: int) -> np.ndarray:
        """``(n_texts, n_classes)`` for already-tokenised examples, chunks pooled per text."""
        module = self.compressed if self.compressed is not None else self._weights.module(self.bf16)
        probabilities = example_probabilities(
            module, encoded, batch_size=self.batch_size, pad_id=self.tokenizer.pad_token_id,
            multi_label=self.label_map.multi_label, bf16=self.bf16, device=self.device, frozen=self._weights.frozen)
        return pool_chunks(probabilities, encoded.owner, n_texts, self.config.data.chunk_pooling,
                           self.label_map.multi_label)

    def predict_proba(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        """``(n_texts, n_classes)`` probabilities (softmax, or per-label sigmoid for multi-label)."""
        texts = check_texts(list(texts), "input")
        if not texts:
            return np.zeros((0, self.label_map.num_labels), dtype=np.float32)
        return np.concatenate(list(self.iter_predict_proba(texts, pairs)))

    def labels_from_probabilities(self, probabilities: np.ndarray) -> list[Any]:
        """The predicted label per row; a list of labels per row for multi-label models."""
        if self.label_map.multi_label:
            return [[self.classes[j] for j in np.flatnonzero(row >= self.thresholds)] for row in probabilities]
        return self.label_map.decode(probabilities.argmax(axis=1).tolist())

    def predict(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> list[Any]:
        return self.labels_from_probabilities(self.predict_proba(texts, pairs))

    def to(self, device: str | torch.device) -> Predictor:
        if self.compressed is not None and torch.device(device).type != "cpu":
            raise TunekitError("a compressed (ONNX) predictor runs on the CPU only",
                               "load the run without `compressed` to run it on another device")
        self.model.to(device)
        self._weights.reset()
        self.device = torch.device(device)
        self.bf16 = resolve_bf16(self.config.train.bf16, self.device)
        return self
