"""The properties every adaptation method must have, for both tasks (tiny BERT built in the test).

One row per registered method: adding a method to the registry adds it here. Method-specific behaviour has its own
test file (test_adalora.py, test_prefix_tuning.py, ...).
"""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import AutoTokenizer

from method_cases import LABELS, TASKS, logits_of, method_config, train_steps
from tunekit.errors import TunekitError
from tunekit.methods import METHODS, trainable_parameters
from tunekit.run.model_io import build_model, load_model, save_model

ALL = [(method, task) for method in METHODS for task in TASKS]
MERGEABLE = [(method, task) for method, task in ALL if METHODS[method].can_merge]
NOT_MERGEABLE = [(method, task) for method, task in ALL if not METHODS[method].can_merge]
WITH_ADAPTER = [(method, task) for method, task in ALL if METHODS[method].has_adapter]


def _build(tiny_model_dir, method: str, task: str):
    config = method_config(tiny_model_dir, method, task)
    model, _ = build_model(config, LABELS[task])
    return model, config


def test_every_method_has_a_row():
    assert {method for method, _ in ALL} == set(METHODS)
    assert len(METHODS) >= 12


@pytest.mark.parametrize(("method", "task"), ALL)
def test_only_declared_trainable_parameters_change(method, task, tiny_model_dir):
    model, config = _build(tiny_model_dir, method, task)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    declared = {name for name, p in model.named_parameters() if p.requires_grad}
    trainable, total = trainable_parameters(model)
    assert 0 < trainable <= total
    assert (trainable == total) == (method == "full")

    train_steps(model, config)

    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert changed <= declared, f"frozen parameters changed: {sorted(changed - declared)[:5]}"
    assert declared <= changed, f"declared trainable but never trained: {sorted(declared - changed)[:5]}"


@pytest.mark.parametrize(("method", "task"), ALL)
def test_save_then_load_reproduces_logits(method, task, tiny_model_dir, tmp_path):
    model, config = _build(tiny_model_dir, method, task)
    train_steps(model, config)
    expected = logits_of(model)
    save_model(model, AutoTokenizer.from_pretrained(tiny_model_dir), tmp_path / "model", method)
    assert (tmp_path / "model" / METHODS[method].weights_file).is_file()
    assert not list((tmp_path / "model").glob("*.bin"))

    loaded = load_model(tmp_path / "model", config, LABELS[task])
    torch.testing.assert_close(logits_of(loaded), expected, rtol=0, atol=0)


@pytest.mark.parametrize(("method", "task"), MERGEABLE)
def test_merged_and_unmerged_outputs_agree(method, task, tiny_model_dir):
    model, config = _build(tiny_model_dir, method, task)
    train_steps(model, config)
    expected = logits_of(model)
    merged = METHODS[method].merge(copy.deepcopy(model))
    assert type(merged).__module__.startswith("transformers.")
    assert not any("lora_" in name or "ia3_" in name for name, _ in merged.named_parameters())
    torch.testing.assert_close(logits_of(merged), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize(("method", "task"), NOT_MERGEABLE)
def test_methods_that_cannot_merge_say_why(method, task, tiny_model_dir):
    model, _ = _build(tiny_model_dir, method, task)
    with pytest.raises(TunekitError, match=f"`{method}`.* cannot be merged") as excinfo:
        METHODS[method].merge(model)
    assert "lora" in excinfo.value.fix


@pytest.mark.parametrize(("method", "task"), WITH_ADAPTER)
def test_disabled_adapter_gives_the_base_model(method, task, tiny_model_dir):
    base, _ = _build(tiny_model_dir, "full", task)  # the same seeded base model and head, nothing added
    expected = logits_of(base)
    model, config = _build(tiny_model_dir, method, task)
    train_steps(model, config)
    trained = logits_of(model)
    assert not torch.allclose(trained, expected, atol=1e-4)  # training moved it, so the next check means something

    with METHODS[method].disabled(model):
        torch.testing.assert_close(logits_of(model), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(logits_of(model), trained, rtol=0, atol=0)  # and it comes back on


@pytest.mark.parametrize("method", [m for m in METHODS if not METHODS[m].has_adapter])
def test_methods_without_an_adapter_refuse_to_disable_it(method, tiny_model_dir):
    model, _ = _build(tiny_model_dir, method, "classification")
    with pytest.raises(TypeError, match="no adapter"):
        METHODS[method].disabled(model)


@pytest.mark.parametrize("task", TASKS)
def test_logits_have_one_row_per_input_position(task, tiny_model_dir):
    """Every method's logits have the base model's shape (prompt tuning adds virtual tokens, then drops them)."""
    base, _ = _build(tiny_model_dir, "full", task)
    shape = logits_of(base).shape
    for method in METHODS:
        model, _ = _build(tiny_model_dir, method, task)
        assert logits_of(model).shape == shape, method
