import numpy as np
import pytest
import torch
from peft import LoraConfig, TaskType, get_peft_model
from transformers import BertForSequenceClassification, BertTokenizer

from tiny_fixtures import make_sentiment_rows
from tunekit.data.tokenize import encode_texts
from tunekit.errors import ConfigError
from tunekit.training.private import check_private_training, train_private


def _data(tiny_model_dir, n=128):
    tokenizer = BertTokenizer.from_pretrained(tiny_model_dir)
    rows = make_sentiment_rows(n)
    encoded = encode_texts(tokenizer, [r["text"] for r in rows], max_seq_len=16)
    targets = np.array([r["label"] == "positive" for r in rows], dtype=np.int64)
    return tokenizer, encoded, targets


def _lora_model(tiny_model_dir):
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=4, lora_alpha=8, target_modules=["query", "value"],
                        modules_to_save=["classifier", "pooler"])
    return get_peft_model(model, config)


def _accuracy(model, tokenizer, encoded, targets):
    from tunekit.data.batching import collate

    model.eval()
    with torch.no_grad():
        logits = model(**collate(encoded, np.arange(len(encoded)), tokenizer.pad_token_id)).logits
    return float((logits.argmax(-1).numpy() == targets).mean())


def test_dp_sgd_with_lora_spends_the_budget_and_leaves_a_plain_model(tiny_model_dir):
    tokenizer, encoded, targets = _data(tiny_model_dir)
    model = _lora_model(tiny_model_dir)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    spent = train_private(model, encoded, targets, pad_id=tokenizer.pad_token_id, optimizer=optimizer,
                          total_steps=10, expected_batch_size=32, target_epsilon=8.0, delta=None,
                          max_per_sample_grad_norm=1.0, accountant="rdp", seed=0)
    assert spent.delta == pytest.approx(1 / 128) and spent.sample_rate == pytest.approx(0.25)
    assert 7.5 <= spent.epsilon <= 8.0  # the noise is calibrated to spend the budget, not more
    assert all(not torch.equal(before[n], p) for n, p in model.named_parameters() if p.requires_grad)
    assert not any(hasattr(p, "grad_sample") and p.grad_sample is not None for p in model.parameters())
    _accuracy(model, tokenizer, encoded, targets)  # hooks removed: plain inference runs without Opacus


@pytest.mark.parametrize("bf16", [False, True])
def test_dp_sgd_learns_a_planted_signal_when_the_noise_is_small(tiny_model_dir, bf16):
    tokenizer, encoded, targets = _data(tiny_model_dir)
    model = _lora_model(tiny_model_dir)
    before = _accuracy(model, tokenizer, encoded, targets)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-2)
    train_private(model, encoded, targets, pad_id=tokenizer.pad_token_id, optimizer=optimizer, total_steps=30,
                  expected_batch_size=64, target_epsilon=1e4, delta=None, max_per_sample_grad_norm=1.0,
                  accountant="rdp", seed=0, bf16=bf16)
    after = _accuracy(model, tokenizer, encoded, targets)
    assert after >= 0.9 > before


def test_a_tighter_budget_needs_more_noise(tiny_model_dir):
    tokenizer, encoded, targets = _data(tiny_model_dir, n=64)
    noises = []
    for epsilon in (8.0, 1.0):
        model = _lora_model(tiny_model_dir)
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0)
        noises.append(train_private(model, encoded, targets, pad_id=tokenizer.pad_token_id, optimizer=optimizer,
                                    total_steps=3, expected_batch_size=16, target_epsilon=epsilon, delta=1e-3,
                                    max_per_sample_grad_norm=1.0, accountant="rdp", seed=0).noise_multiplier)
    assert noises[1] > 2 * noises[0]


def test_full_fine_tuning_with_dp_is_refused():
    with pytest.raises(ConfigError, match="method=lora"):
        check_private_training("full", False, "truncate")
