"""Gradient checkpointing: same loss and gradients as without it, fewer saved activations, names unchanged."""

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, MPNetConfig, MPNetForSequenceClassification

from tunekit.errors import ConfigError
from tunekit.training.activation_checkpointing import checkpoint_layers


def _model(architecture: str = "bert") -> torch.nn.Module:
    torch.manual_seed(0)
    sizes = dict(vocab_size=64, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32,
                 max_position_embeddings=40, hidden_dropout_prob=0.3)
    if architecture == "mpnet":  # transformers 5 has no gradient checkpointing of its own for MPNet
        return MPNetForSequenceClassification(MPNetConfig(**sizes)).train()
    return BertForSequenceClassification(BertConfig(**sizes)).train()


def _loss_and_grads(model) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    torch.manual_seed(1)  # the same dropout masks in both models
    ids = torch.randint(1, 64, (4, 12))
    loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.tensor([0, 1, 0, 1])).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def _saved_tensors(model) -> int:
    count = 0

    def pack(tensor):
        nonlocal count
        count += 1
        return tensor

    ids = torch.randint(1, 64, (4, 12))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=ids).logits.sum()
    return count


@pytest.mark.parametrize("architecture", ["bert", "mpnet"])
def test_checkpointed_model_gives_the_same_loss_and_gradients_with_dropout_on(architecture):
    plain, checkpointed = _model(architecture), _model(architecture)
    assert checkpoint_layers(checkpointed) == 3
    loss, grads = _loss_and_grads(plain)
    loss_c, grads_c = _loss_and_grads(checkpointed)
    torch.testing.assert_close(loss_c, loss)
    for name, grad in grads.items():
        torch.testing.assert_close(grads_c[name], grad, rtol=1e-5, atol=1e-6)
    assert list(checkpointed.state_dict()) == list(plain.state_dict())


def test_checkpointing_keeps_fewer_activations_for_backward():
    plain, checkpointed = _model(), _model()
    checkpoint_layers(checkpointed)
    assert _saved_tensors(checkpointed) < _saved_tensors(plain) / 2


def test_eval_mode_runs_the_plain_forward():
    model = _model()
    checkpoint_layers(model)
    model.eval()
    with torch.inference_mode():
        assert model(input_ids=torch.randint(1, 64, (2, 5))).logits.shape == (2, 2)


def test_a_model_without_layer_list_is_refused_with_the_option_named():
    with pytest.raises(ConfigError, match="train.gradient_checkpointing"):
        checkpoint_layers(torch.nn.Sequential(torch.nn.Linear(2, 2)))


@pytest.mark.parametrize("method", ["full", "lora"])
def test_training_with_the_option_matches_training_without_it(tmp_path, tiny_config, sentiment_file, method,
                                                              monkeypatch):
    from tunekit.atomic import read_json
    from tunekit.recipes.train_classifier import train_classifier
    from tunekit.training import session

    wrapped = []
    monkeypatch.setattr(session, "checkpoint_layers", lambda model: wrapped.append(checkpoint_layers(model)))

    def validation_loss(checkpointing: bool) -> float:
        config = tiny_config(data={"train": str(sentiment_file)}, method=method,
                             train={"epochs": 2, "gradient_checkpointing": checkpointing})
        run = train_classifier(config, tmp_path / f"{method}-{checkpointing}")
        return read_json(run / "metrics.json")["validation"]["loss"]

    assert validation_loss(True) == pytest.approx(validation_loss(False), rel=1e-4)
    assert wrapped == [2]  # the tiny model's two layers, in the checkpointed run only
