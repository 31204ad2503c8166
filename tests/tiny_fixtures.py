"""Plain helpers shared by the tests: the tiny BERT's word lists and builder, and small learnable labeled data.

Test modules import these directly (``from tiny_fixtures import make_sentiment_rows``): pytest's default
``prepend`` import mode puts ``tests/`` on ``sys.path`` when it loads ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertTokenizer,
    MPNetConfig,
    MPNetForSequenceClassification,
)

from tunekit.config import RunConfig, config_from_dict

POSITIVE = ["great", "wonderful", "excellent", "lovely", "superb", "good", "brilliant", "delightful"]
NEGATIVE = ["awful", "terrible", "boring", "dreadful", "bad", "horrible", "poor", "dull"]
NEUTRAL = ["the", "a", "movie", "film", "plot", "was", "is", "acting", "story", "and", "really", "quite", "very"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_tiny_model_dir(root: Path) -> Path:
    """Save a 2-layer, 32-wide BERT with a word-level vocabulary into ``root``, a local model directory."""
    vocab = SPECIAL + sorted(set(POSITIVE + NEGATIVE + NEUTRAL)) + ["##s", "##ly", "money", "bank", "card"]
    tokenizer = BertTokenizer(vocab={word: i for i, word in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(root)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, type_vocab_size=2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.1)
    torch.manual_seed(0)
    BertForSequenceClassification(config).bert.save_pretrained(root)
    return root


def tiny_sequence_classifier(architecture: str = "bert", num_labels: int = 3, seed: int = 0,
                             layers: int = 2) -> BertForSequenceClassification | MPNetForSequenceClassification:
    """An untrained ``layers``-layer, 32-wide sequence classifier (vocabulary 64) in eval mode, dropout 0.1 as in
    real checkpoints. ``architecture``: ``"bert"`` (takes token types) or ``"mpnet"`` (no token types, pad id 1)."""
    torch.manual_seed(seed)
    sizes = dict(vocab_size=64, hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                 intermediate_size=64, num_labels=num_labels,
                 initializer_range=0.2)  # wider than the default 0.02: logits far from 0
    if architecture == "mpnet":
        return MPNetForSequenceClassification(MPNetConfig(max_position_embeddings=66, **sizes)).eval()
    return BertForSequenceClassification(BertConfig(max_position_embeddings=64, **sizes)).eval()


def padded_batch(model, with_token_types: bool, lengths: tuple[int, ...] = (13, 9, 3, 1)) -> dict[str, torch.Tensor]:
    """Rows of mixed ``lengths``, right-padded with ``model``'s pad id (random ids in 5..63); token types mark a
    second segment from position 5."""
    generator = torch.Generator().manual_seed(1)
    mask = torch.tensor([[1] * n + [0] * (max(lengths) - n) for n in lengths])
    ids = torch.randint(5, 64, mask.shape, generator=generator)
    batch = {"input_ids": torch.where(mask.bool(), ids, model.config.pad_token_id), "attention_mask": mask}
    if with_token_types:
        batch["token_type_ids"] = (torch.arange(mask.shape[1]) >= 5).long() * mask
    return batch


def make_sentiment_rows(n: int, seed: int = 0, labels: tuple[str, ...] = ("negative", "positive")) -> list[dict]:
    """Short texts whose label is decided by one sentiment word: learnable in a few steps."""
    rng = random.Random(seed)
    words = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": ["plot", "story"]}
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        filler = rng.sample(NEUTRAL, k=rng.randint(1, 6))
        text = " ".join([*filler[:2], rng.choice(words[label]), *filler[2:]])
        rows.append({"text": text, "label": label})
    return rows


def make_multi_label_rows(n: int, seed: int = 0) -> list[dict]:
    """`make_sentiment_rows` with a ``labels`` list; every third text also names money, a bank or a card and is
    labeled ``finance`` too."""
    rng = random.Random(seed)
    rows = []
    for i, row in enumerate(make_sentiment_rows(n, seed)):
        labels = [row["label"]]
        text = row["text"]
        if i % 3 == 0:
            text = f"{text} {rng.choice(['money', 'bank', 'card'])}"
            labels.append("finance")
        rows.append({"text": text, "labels": labels})
    return rows


def tiny_run_config(model_dir: Path, **sections) -> RunConfig:
    """A RunConfig on the tiny model with a small, quiet training budget; ``sections`` override."""
    raw = {
        "model": {"name": str(model_dir)},
        "data": {"max_seq_len": 32},
        "train": {"epochs": 6, "batch_size": 16, "learning_rate": 3e-3, "progress_bar": False,
                  "tensorboard": False, "log_every_steps": 2, "bf16": "off"},
        "eval": {"batch_size": 32},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            raw.setdefault(section, {}).update(values)
        else:
            raw[section] = values
    return config_from_dict(raw)


ENTITIES = {"ORG": [["bank"]], "MISC": [["money", "card"]], "LOC": [["films"], ["card", "bank"]]}


def make_entity_sentences(n: int, seed: int = 0) -> tuple[list[list[str]], list[list[str]]]:
    """Sentences of filler words with one or two entities from `ENTITIES` (IOB2): learnable in a few steps.

    ``films`` splits into the sub-words ``film ##s``, so alignment to first sub-words is exercised.
    """
    rng = random.Random(seed)
    sentences, tags = [], []
    for _ in range(n):
        words, sentence_tags = [], []
        for _ in range(rng.randint(1, 2)):
            filler = rng.sample(NEUTRAL, k=rng.randint(1, 3))
            kind = rng.choice(sorted(ENTITIES))
            entity = rng.choice(ENTITIES[kind])
            words += [*filler, *entity]
            sentence_tags += ["O"] * len(filler) + [f"B-{kind}"] + [f"I-{kind}"] * (len(entity) - 1)
        sentences.append(words)
        tags.append(sentence_tags)
    return sentences, tags


def write_tagged_jsonl(path: Path, sentences: list[list[str]], tags: list[list[str]]) -> Path:
    path.write_text("\n".join(json.dumps({"tokens": w, "tags": t}) for w, t in zip(sentences, tags, strict=True)))
    return path


def retrain_in_place(run_dir: Path) -> None:
    """Stand in for a run trained again after `tunekit compress` without removing ``compressed/``: the classifier's
    bias in ``model/model.safetensors`` moves by 0.1."""
    path = Path(run_dir) / "model" / "model.safetensors"
    tensors = load_file(path)
    tensors["classifier.bias"] = tensors["classifier.bias"] + 0.1
    save_file(tensors, path, metadata={"format": "pt"})


class Interrupt:
    """An `on_step_end` hook that simulates Ctrl-C after optimiser step ``at``."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self, state) -> None:
        if state.step == self.at:
            raise KeyboardInterrupt
