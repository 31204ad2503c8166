"""`FirstTokenBertClassifier` against the whole model's logits in torch, and which models `first_token_applies` to."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import BertForSequenceClassification

from tiny_fixtures import padded_batch, tiny_sequence_classifier
from tunekit.compress.first_token import FirstTokenBertClassifier, first_token_applies


def last_layer_rows(model: BertForSequenceClassification) -> tuple[list[int], torch.utils.hooks.RemovableHandle]:
    """Record how many positions per text reach the last layer's feed-forward block."""
    rows: list[int] = []
    handle = model.bert.encoder.layer[-1].intermediate.register_forward_hook(
        lambda module, inputs, output: rows.append(inputs[0].shape[1]))
    return rows, handle


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("with_token_types", [True, False])
@pytest.mark.parametrize("layers", [1, 3])
def test_logits_equal_the_whole_models_on_a_padded_batch(attention, with_token_types, layers):
    """Rows of 13, 9, 3 and 1 tokens: a mask ignored or applied to the wrong axis changes the shorter rows."""
    model = tiny_sequence_classifier(layers=layers)
    model.set_attn_implementation(attention)
    batch = padded_batch(model, with_token_types)
    with torch.no_grad():
        expected = model(**batch).logits
        rows, handle = last_layer_rows(model)
        try:
            logits = FirstTokenBertClassifier(model)(**batch)
        finally:
            handle.remove()

    assert rows == [1]  # the last layer's feed-forward block saw the first token only
    assert logits.shape == expected.shape == (4, 3)
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=0)
    assert expected.std() > 0.1  # logits far enough apart that a wrong mask or position would show


def test_padding_changes_nothing_for_a_row():
    """Each row's logits are those it gets alone, unpadded (the attention must not read padding keys)."""
    model = tiny_sequence_classifier()
    batch = padded_batch(model, with_token_types=True)
    with torch.no_grad():
        together = FirstTokenBertClassifier(model)(**batch)
        for row, length in enumerate(batch["attention_mask"].sum(dim=1).tolist()):
            alone = {name: tensor[row:row + 1, :length] for name, tensor in batch.items()}
            torch.testing.assert_close(FirstTokenBertClassifier(model)(**alone), together[row:row + 1],
                                       atol=1e-5, rtol=0)


def test_the_wrapper_shares_the_models_weights():
    model = tiny_sequence_classifier()
    wrapper = FirstTokenBertClassifier(model)
    assert wrapper.model is model
    batch = padded_batch(model, with_token_types=True)
    with torch.no_grad():
        before = wrapper(**batch)
        model.classifier.bias.add_(1.0)
        torch.testing.assert_close(wrapper(**batch), before + 1.0)


class SubclassedBert(BertForSequenceClassification):
    """A subclass could compute anything from the other tokens: only the stock class is rewritten."""


def test_first_token_applies_to_a_stock_bert_classifier_only():
    assert first_token_applies(tiny_sequence_classifier("bert"))
    assert not first_token_applies(tiny_sequence_classifier("mpnet"))
    assert not first_token_applies(SubclassedBert(tiny_sequence_classifier("bert").config))
    assert not first_token_applies(tiny_sequence_classifier("bert").bert)  # an encoder without the head


def test_first_token_does_not_apply_to_a_decoder():
    """A decoder's first token attends to itself only (causal mask): the wrapper's attention would be wrong."""
    config = copy.deepcopy(tiny_sequence_classifier("bert").config)
    config.is_decoder = True
    assert not first_token_applies(BertForSequenceClassification(config))
