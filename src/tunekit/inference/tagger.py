"""`TagPredictor`: words in, one IOB2 tag per word out; raw text in, entities with character offsets out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tunekit.atomic import read_json
from tunekit.config import RunConfig, load_config
from tunekit.data.align import EncodedWords, encode_words
from tunekit.data.batching import collate, sorted_batches
from tunekit.data.iob import OUTSIDE, entity_spans
from tunekit.data.labels import LabelMap
from tunekit.data.words import split_words
from tunekit.errors import DataError
from tunekit.inference.bf16_weights import InferenceWeights
from tunekit.inference.iob_decoding import IOB2Decoder
from tunekit.run.layout import RunLayout
from tunekit.run.model_io import load_model, load_tokenizer
from tunekit.training.padding_free import padding_free_encoders
from tunekit.training.precision import autocast, resolve_bf16


class TagPredictor:
    """Batched, length-sorted token classification with the run's tokenisation and tag set.

    Each word's tag probabilities are read from its first sub-word; the sentence's tags are decoded into valid IOB2
    by ``config.eval.tag_decoding`` (`IOB2Decoder`). ``frozen``: as for `Predictor` (a loaded run runs as a bf16
    copy).
    """

    def __init__(self, model: nn.Module, tokenizer, tag_map: LabelMap, config: RunConfig,
                 batch_size: int | None = None, frozen: bool = False) -> None:
        self.model = model.eval()
        self._weights = InferenceWeights(self.model, frozen)
        self.tokenizer = tokenizer
        self.tag_map = tag_map
        self.config = config
        self.batch_size = batch_size or config.eval.batch_size
        self.device = next(model.parameters()).device
        self.bf16 = resolve_bf16(config.train.bf16, self.device)
        self._outside = list(tag_map.classes).index(OUTSIDE) if OUTSIDE in tag_map.classes else 0
        self._decoder = IOB2Decoder(self.classes, config.eval.tag_decoding)

    @classmethod
    def from_run_dir(cls, run_dir: str | Path, batch_size: int | None = None) -> TagPredictor:
        """Load a finished tagger run directory (never unpickling anything)."""
        layout = RunLayout(Path(run_dir)).require_finished()
        config = load_config(layout.config)
        if config.task != "token_classification":
            raise DataError(f"{run_dir} is a {config.task} run, not a tagger",
                            "use tunekit.inference.predictor.Predictor for text classification runs")
        tag_map = LabelMap.from_json(read_json(layout.labels))
        model = load_model(layout.model, config, tag_map)
        return cls(model, load_tokenizer(layout.model), tag_map, config, batch_size, frozen=True)

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.tag_map.classes]

    def word_probabilities(self, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Per sentence, ``(n_words, n_tags)`` tag probabilities; a word with no sub-word gets ``O``."""
        sentences = [[str(w) for w in words] for words in sentences]
        out = [np.zeros((len(words), self.tag_map.num_labels), dtype=np.float32) for words in sentences]
        for probabilities in out:
            probabilities[:, self._outside] = 1.0
        if not any(sentences):
            return out
        encoded = encode_words(self.tokenizer, sentences, max_seq_len=self.config.data.max_seq_len)
        for example, probabilities in enumerate(self._token_probabilities(encoded)):
            positions, words = encoded.first_subwords(example)
            out[encoded.texts.owner[example]][words] = probabilities[positions]
        return out

    def _token_probabilities(self, encoded: EncodedWords) -> list[np.ndarray]:
        """Per example, ``(seq_len, n_tags)`` softmax probabilities of every sub-word."""
        texts = encoded.texts
        result: list[np.ndarray] = [np.empty(0)] * len(texts)
        model = self._weights.module(self.bf16).eval()
        with (torch.inference_mode(), autocast(self.bf16, self.device),
              padding_free_encoders(model, self._weights.frozen)):
            for indices in sorted_batches(texts.lengths, self.batch_size):
                batch = {k: v.to(self.device) for k, v in collate(texts, indices, self.tokenizer.pad_token_id).items()}
                probabilities = torch.softmax(model(**batch).logits.float(), dim=-1).cpu().numpy()
                for row, example in enumerate(indices):
                    result[example] = probabilities[row, :len(texts.input_ids[example])]
        return result

    def predict_with_scores(self, sentences: Sequence[Sequence[str]]) -> tuple[list[list[str]], list[np.ndarray]]:
        """IOB2 tags per word and the probability of each chosen tag."""
        tags, scores = [], []
        for probabilities in self.word_probabilities(sentences):
            chosen = self._decoder.decode(probabilities)
            tags.append([self._decoder.tags[i] for i in chosen])
            scores.append(probabilities[np.arange(len(chosen)), chosen])
        return tags, scores

    def predict(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """One IOB2 tag per word of each sentence."""
        return self.predict_with_scores(sentences)[0]

    def extract(self, texts: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Entities of each raw text: ``{"text", "label", "start", "end", "score"}`` with
        ``text == original[start:end]``; ``score`` is the mean probability of the entity's word tags."""
        split = [split_words(str(text)) for text in texts]
        tags, scores = self.predict_with_scores([[w.text for w in words] for words in split])
        entities = []
        for text, words, sentence_tags, sentence_scores in zip(texts, split, tags, scores, strict=True):
            found = []
            for label, first, end in entity_spans(sentence_tags):
                start, stop = words[first].start, words[end - 1].end
                found.append({"text": str(text)[start:stop], "label": label, "start": start, "end": stop,
                              "score": float(sentence_scores[first:end].mean())})
            entities.append(found)
        return entities

    def to(self, device: str | torch.device) -> TagPredictor:
        self.model.to(device)
        self._weights.reset()
        self.device = torch.device(device)
        self.bf16 = resolve_bf16(self.config.train.bf16, self.device)
        return self
