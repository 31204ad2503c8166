"""The lean LoRA forward computes peft's expression, and hands every other case back to peft."""

from __future__ import annotations

import types

import pytest
import torch
from peft.tuners.lora.layer import Linear as LoraLinear

from method_cases import LABELS, method_config, random_batch, random_targets, train_steps
from tunekit.methods.lora import lean_forward
from tunekit.methods.lora.lean_forward import use_lean_lora_forward
from tunekit.run.model_io import build_model
from tunekit.training.session import TrainingSession


def _trained_lora(tiny_model_dir, method: str = "lora", dropout: float = 0.2):
    config = method_config(tiny_model_dir, method, "classification", lora={"dropout": dropout})
    torch.manual_seed(0)
    model, _ = build_model(config, LABELS["classification"])
    train_steps(model, config, steps=3)  # lora_B starts at zero: train it so the adapter branch matters
    return model, config


def _peft_forward(layers: list[LoraLinear]) -> None:
    for layer in layers:
        del layer.forward


def _logits_and_gradients(model, autocast: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.train()
    model.zero_grad()
    torch.manual_seed(7)  # the same dropout masks on both sides: neither forward draws anything else
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = model(**random_batch(3)).logits
    torch.nn.functional.cross_entropy(logits.float(), random_targets("classification", 3)).backward()
    return logits.detach().float(), [p.grad.clone() for p in model.parameters() if p.requires_grad]


@pytest.mark.parametrize("autocast", [False, True])
def test_training_forward_and_gradients_match_peft(tiny_model_dir, autocast):
    model, _ = _trained_lora(tiny_model_dir)
    layers = use_lean_lora_forward(model)
    assert len(layers) == 12 and all(isinstance(layer.forward, types.MethodType) for layer in layers)
    lean = _logits_and_gradients(model, autocast)
    _peft_forward(layers)
    peft = _logits_and_gradients(model, autocast)
    tolerance = {"rtol": 2e-2, "atol": 2e-2} if autocast else {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(lean[0], peft[0], **tolerance)
    assert not torch.equal(lean[0], _without_adapter(model))  # the adapter branch contributes
    for a, b in zip(lean[1], peft[1], strict=True):
        torch.testing.assert_close(a, b, **tolerance)


def _without_adapter(model) -> torch.Tensor:
    torch.manual_seed(7)
    with model.disable_adapter(), torch.no_grad():
        return model(**random_batch(3)).logits.float()


def test_disabled_merged_and_dora_layers_use_peft_forward(tiny_model_dir):
    model, _ = _trained_lora(tiny_model_dir, dropout=0.0)
    use_lean_lora_forward(model)
    model.eval()
    batch = random_batch(5)
    with torch.no_grad():
        adapted = model(**batch).logits
        with model.disable_adapter():
            assert not torch.allclose(model(**batch).logits, adapted)
        model.merge_adapter()
        torch.testing.assert_close(model(**batch).logits, adapted, rtol=1e-4, atol=1e-5)  # not added twice
    dora, _ = _trained_lora(tiny_model_dir, "dora", dropout=0.0)
    with torch.no_grad():
        expected = dora.eval()(**batch).logits
        use_lean_lora_forward(dora)
        torch.testing.assert_close(dora(**batch).logits, expected)


def test_the_training_session_installs_it(tiny_model_dir, tmp_path):
    config = method_config(tiny_model_dir, "lora", "classification", train={"warmup_steps": 0})
    model, _ = build_model(config, LABELS["classification"])
    TrainingSession.start(model, config, n_examples=32, checkpoints=tmp_path, resume=False)
    layers = [m for m in model.modules() if type(m) is LoraLinear]
    assert layers and all("forward" in layer.__dict__ for layer in layers)


def test_frozen_base_weights_are_cast_once_and_give_autocasts_numbers(tiny_model_dir, monkeypatch):
    model, _ = _trained_lora(tiny_model_dir, dropout=0.0)
    layers = use_lean_lora_forward(model)
    cached = _logits_and_gradients(model, autocast=True)
    layer = layers[0]
    weight = layer.base_layer.__dict__["_frozen_bf16_weight"][1]
    assert weight.dtype == torch.bfloat16 and "_frozen_bf16_weight" not in str(model.state_dict().keys())
    _logits_and_gradients(model, autocast=True)
    assert layer.base_layer.__dict__["_frozen_bf16_weight"][1] is weight  # made once, not per call
    monkeypatch.setattr(lean_forward, "CACHE_FROZEN_BASE", False)
    per_call = _logits_and_gradients(model, autocast=True)
    torch.testing.assert_close(cached[0], per_call[0], rtol=0, atol=0)
    for a, b in zip(cached[1], per_call[1], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_modified_frozen_weight_gets_a_new_copy(tiny_model_dir):
    model, _ = _trained_lora(tiny_model_dir, dropout=0.0)
    base = use_lean_lora_forward(model)[0].base_layer
    first = lean_forward.frozen_bf16(base, "weight")
    assert lean_forward.frozen_bf16(base, "weight") is first
    with torch.no_grad():
        base.weight.mul_(2)
    torch.testing.assert_close(lean_forward.frozen_bf16(base, "weight").float(), 2 * first.float())
    base.load_state_dict({"weight": torch.zeros_like(base.weight), "bias": base.bias.detach()})
    assert not lean_forward.frozen_bf16(base, "weight").any()
