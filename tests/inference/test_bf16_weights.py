"""`bf16_copy`: a frozen model cast to bf16 once predicts as casting its Linear weights on every call does, up to
bf16 rounding of the residual stream."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import BertForSequenceClassification

from tiny_fixtures import make_sentiment_rows, tiny_run_config
from tunekit.inference.bf16_weights import InferenceWeights, bf16_copy
from tunekit.inference.predictor import Predictor
from tunekit.recipes.train_classifier import train_classifier


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    torch.manual_seed(0)
    return BertForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2).eval()


def test_every_floating_tensor_is_cast_in_a_frozen_copy_and_the_source_is_untouched(model):
    fast = bf16_copy(model)
    for (name, original), (_, cast) in zip(model.named_parameters(), fast.named_parameters(), strict=True):
        assert original.dtype == torch.float32 and original.requires_grad, name  # the source model is untouched
        assert cast.dtype == torch.bfloat16 and cast is not original and not cast.requires_grad, name
    assert not fast.training


def test_buffers_keep_their_dtype():
    model = torch.nn.Linear(2, 2)
    model.register_buffer("inv_freq", torch.rand(4), persistent=False)  # as a rotary embedding holds it
    fast = bf16_copy(model)
    assert fast.weight.dtype == torch.bfloat16 and fast.inv_freq.dtype == torch.float32
    assert torch.equal(fast.inv_freq, model.inv_freq)


def test_outputs_match_casting_the_linear_weights_on_every_call_up_to_bf16_rounding(model):
    generator = torch.Generator().manual_seed(0)
    batch = {"input_ids": torch.randint(5, model.config.vocab_size, (8, 9), generator=generator),
             "attention_mask": torch.ones(8, 9, dtype=torch.long)}
    batch["attention_mask"][::2, 6:] = 0
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected, got = model(**batch).logits.float(), bf16_copy(model)(**batch).logits.float()
    assert got.dtype == torch.float32 and not torch.equal(expected, got)  # really a different precision
    torch.testing.assert_close(got, expected, rtol=0.05, atol=0.05)


def test_the_cast_copy_is_used_only_for_a_frozen_model_under_bf16(model):
    assert InferenceWeights(model, frozen=False).module(bf16=True) is model
    assert InferenceWeights(model, frozen=True).module(bf16=False) is model
    weights = InferenceWeights(model, frozen=True)
    first = weights.module(bf16=True)
    assert first is not model and weights.module(bf16=True) is first
    weights.reset()
    assert weights.module(bf16=True) is not first


def test_a_loaded_run_predicts_as_plain_autocast_up_to_bf16_rounding(tiny_model_dir, tmp_path):
    data = tmp_path / "train.csv"
    rows = make_sentiment_rows(120)
    pd.DataFrame(rows).to_csv(data, index=False)
    config = tiny_run_config(tiny_model_dir, data={"train": str(data)}, train={"epochs": 1, "bf16": "on"})
    loaded = Predictor.from_run_dir(train_classifier(config, tmp_path / "run"))
    plain = Predictor(loaded.model, loaded.tokenizer, loaded.label_map, loaded.config)  # casts on every call
    texts = [r["text"] for r in rows[:40]]
    fast, slow = loaded.predict_proba(texts), plain.predict_proba(texts)
    assert loaded.bf16 and np.allclose(fast, slow, atol=0.03)
    assert np.array_equal(fast.argmax(1), slow.argmax(1))
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())  # explanations still get fp32


def test_a_runs_reported_predictions_are_what_its_saved_model_predicts(tiny_model_dir, tmp_path):
    data = tmp_path / "train.csv"
    pd.DataFrame(make_sentiment_rows(160)).to_csv(data, index=False)
    config = tiny_run_config(tiny_model_dir, data={"train": str(data)}, train={"epochs": 1, "bf16": "on"})
    run_dir = train_classifier(config, tmp_path / "run")
    reported = pd.read_csv(run_dir / "test_predictions.csv")
    loaded = Predictor.from_run_dir(run_dir).predict_proba(reported["text"].tolist())
    columns = [c for c in reported.columns if c.startswith("p_")]
    np.testing.assert_allclose(loaded, reported[columns].to_numpy(), atol=1e-6)  # written with 6 decimals
