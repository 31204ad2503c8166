"""`bf16_linear_copy`: Linear weights cast once give the same outputs as casting them on every call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from transformers import BertForSequenceClassification

from tiny_fixtures import make_sentiment_rows, tiny_run_config
from tunekit.inference.bf16_weights import InferenceWeights, bf16_linear_copy
from tunekit.inference.predictor import Predictor
from tunekit.recipes.train_classifier import train_classifier


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    torch.manual_seed(0)
    return BertForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2).eval()


def test_only_linear_weights_are_cast_and_everything_else_is_shared(model):
    fast = bf16_linear_copy(model)
    for (name, original), (_, cast) in zip(model.named_parameters(), fast.named_parameters(), strict=True):
        assert original.dtype == torch.float32 and original.requires_grad  # the source model is untouched
        if "embeddings" in name or "LayerNorm" in name:
            assert cast is original
        else:
            assert cast.dtype == torch.bfloat16 and cast is not original and not cast.requires_grad
    assert any(isinstance(m, nn.Linear) for m in fast.modules())


def test_outputs_equal_casting_on_every_call_under_autocast(model):
    batch = {"input_ids": torch.randint(5, model.config.vocab_size, (4, 9)),
             "attention_mask": torch.ones(4, 9, dtype=torch.long)}
    fast = bf16_linear_copy(model)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected, got = model(**batch).logits, fast(**batch).logits
    assert torch.equal(expected, got)


def test_the_cast_copy_is_used_only_for_a_frozen_model_under_bf16(model):
    assert InferenceWeights(model, frozen=False).module(bf16=True) is model
    assert InferenceWeights(model, frozen=True).module(bf16=False) is model
    weights = InferenceWeights(model, frozen=True)
    first = weights.module(bf16=True)
    assert first is not model and weights.module(bf16=True) is first
    weights.reset()
    assert weights.module(bf16=True) is not first


def test_a_loaded_run_predicts_exactly_as_plain_autocast(tiny_model_dir, tmp_path):
    data = tmp_path / "train.csv"
    rows = make_sentiment_rows(120)
    pd.DataFrame(rows).to_csv(data, index=False)
    config = tiny_run_config(tiny_model_dir, data={"train": str(data)}, train={"epochs": 1, "bf16": "on"})
    loaded = Predictor.from_run_dir(train_classifier(config, tmp_path / "run"))
    plain = Predictor(loaded.model, loaded.tokenizer, loaded.label_map, loaded.config)  # casts on every call
    texts = [r["text"] for r in rows[:40]]
    assert loaded.bf16 and np.array_equal(loaded.predict_proba(texts), plain.predict_proba(texts))
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())  # explanations still get fp32
