"""Batched inference primitives: probabilities from logits, input order under length sorting, pooling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertForSequenceClassification

from tunekit.data.batching import sorted_batches
from tunekit.data.tokenize import encode_texts
from tunekit.inference.batch import batch_logits, example_probabilities, logits_to_probabilities, pool_chunks

# --- logits_to_probabilities -----------------------------------------------------------------------------

LOGITS = torch.tensor([[0.0, math.log(3.0), -math.log(3.0)],
                       [2.0, 2.0, 2.0]])


def test_softmax_for_single_label():
    probs = logits_to_probabilities(LOGITS, multi_label=False)
    # exp(row 0) = [1, 3, 1/3], sum 13/3
    expected = torch.tensor([[3 / 13, 9 / 13, 1 / 13], [1 / 3, 1 / 3, 1 / 3]])
    torch.testing.assert_close(probs, expected)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2))


def test_sigmoid_for_multi_label():
    probs = logits_to_probabilities(LOGITS, multi_label=True)
    sig2 = 1 / (1 + math.exp(-2.0))
    expected = torch.tensor([[0.5, 0.75, 0.25], [sig2, sig2, sig2]])
    torch.testing.assert_close(probs, expected)
    assert not torch.allclose(probs.sum(dim=1), torch.ones(2))  # labels are independent


def test_low_precision_logits_give_float32():
    probs = logits_to_probabilities(LOGITS.to(torch.bfloat16), multi_label=False)
    assert probs.dtype == torch.float32
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2))


# --- pool_chunks ----------------------------------------------------------------------------------------

CHUNK_PROBS = np.array([[0.2, 0.8],
                        [0.6, 0.4],
                        [0.9, 0.1],
                        [0.3, 0.7],
                        [0.5, 0.5]], dtype=np.float32)
OWNER = np.array([0, 0, 1, 2, 2])  # text 0 has two chunks, text 1 one, text 2 two


def test_pool_chunks_mean_by_hand():
    pooled = pool_chunks(CHUNK_PROBS, OWNER, 3, "mean")
    expected = [[0.4, 0.6], [0.9, 0.1], [0.4, 0.6]]
    np.testing.assert_allclose(pooled, expected, rtol=1e-6)


def test_pool_chunks_max_by_hand():
    pooled = pool_chunks(CHUNK_PROBS, OWNER, 3, "max")
    maxima = np.array([[0.6, 0.8], [0.9, 0.1], [0.5, 0.7]])
    np.testing.assert_allclose(pooled, maxima / maxima.sum(axis=1, keepdims=True), rtol=1e-6)  # rows sum to 1
    np.testing.assert_allclose(pool_chunks(CHUNK_PROBS, OWNER, 3, "max", multi_label=True), maxima, rtol=1e-6)


def test_pool_chunks_owner_need_not_be_sorted():
    order = np.array([3, 0, 4, 2, 1])
    for pooling in ("mean", "max"):
        np.testing.assert_allclose(pool_chunks(CHUNK_PROBS[order], OWNER[order], 3, pooling),
                                   pool_chunks(CHUNK_PROBS, OWNER, 3, pooling), rtol=1e-6)


def test_pool_chunks_one_chunk_per_text_is_identity():
    owner = np.arange(len(CHUNK_PROBS))
    for pooling in ("mean", "max"):
        np.testing.assert_array_equal(pool_chunks(CHUNK_PROBS, owner, len(CHUNK_PROBS), pooling), CHUNK_PROBS)


# --- example_probabilities ------------------------------------------------------------------------------

TEXTS = ["good", "the movie was really quite very dull and the plot was poor", "a film",
         "the acting is lovely and the story is great", "bad", "the plot and the story", "superb film"]


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model_dir):
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3).eval()
    return model, AutoTokenizer.from_pretrained(tiny_model_dir)


def _probabilities(model, tokenizer, texts, batch_size):
    encoded = encode_texts(tokenizer, texts, max_seq_len=32)
    return example_probabilities(model, encoded, batch_size=batch_size, pad_id=tokenizer.pad_token_id,
                                 multi_label=False, bf16=False, device=torch.device("cpu"))


def test_example_probabilities_are_in_input_order(model_and_tokenizer):
    """Length-sorted batches must be scattered back: every row equals that text predicted alone."""
    model, tokenizer = model_and_tokenizer
    batched = _probabilities(model, tokenizer, TEXTS, batch_size=3)
    assert batched.shape == (len(TEXTS), 3) and batched.dtype == np.float32
    alone = np.concatenate([_probabilities(model, tokenizer, [text], batch_size=1) for text in TEXTS])
    np.testing.assert_allclose(batched, alone, atol=1e-6)
    assert len({tuple(np.round(row, 4)) for row in batched}) == len(TEXTS)  # distinct rows: order checkable


def test_example_probabilities_match_plain_padded_forward(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    batch = tokenizer(TEXTS, padding=True, truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        reference = torch.softmax(model(**batch).logits, dim=-1).numpy()
    np.testing.assert_allclose(_probabilities(model, tokenizer, TEXTS, batch_size=2), reference, atol=1e-6)


class _AllBatchesAtOnce(torch.nn.Module):
    """Answers `logits_per_batch` only: a row's logits are (its batch's position, 0), so order is visible."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def logits_per_batch(self, batches):
        batches = list(batches)
        self.calls.append(len(batches))
        return iter([torch.tensor([[float(n), 0.0]] * len(b["input_ids"])) for n, b in enumerate(batches)])


def test_a_model_that_runs_batches_at_once_gets_every_batch_in_one_call(model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    encoded = encode_texts(tokenizer, ["a b c d e f", "a", "a b", "a b c", "b"], max_seq_len=16)
    model = _AllBatchesAtOnce()
    probabilities = example_probabilities(model, encoded, batch_size=2, pad_id=0, multi_label=False, bf16=False,
                                          device=torch.device("cpu"))
    assert model.calls == [3]  # batches of 2, 2 and 1, handed over together
    expected = np.empty((5, 2), dtype=np.float32)
    for n, indices in enumerate(sorted_batches(encoded.lengths, 2)):
        expected[indices] = torch.softmax(torch.tensor([float(n), 0.0]), dim=0).numpy()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-6)


def test_batch_logits_calls_a_plain_model_once_per_batch(model_and_tokenizer):
    model, _ = model_and_tokenizer
    batches = [{"input_ids": torch.tensor([[2, 5, 3]])}, {"input_ids": torch.tensor([[2, 7, 9, 3], [2, 8, 3, 0]])}]
    calls = []
    hook = model.register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs["input_ids"].shape),
                                           with_kwargs=True)
    try:
        with torch.no_grad():
            got = [logits.shape for logits in batch_logits(model.eval(), batches)]
    finally:
        hook.remove()
    assert calls == [(1, 3), (2, 4)]
    assert got == [(1, model.config.num_labels), (2, model.config.num_labels)]
