"""AdaLoRA: the rank-budget schedule follows the run's step count, prunes ranks, and a pruned adapter reloads."""

from __future__ import annotations

import torch
from transformers import AutoTokenizer

from method_cases import LABELS, logits_of, method_config, train_steps
from tunekit.methods import METHODS
from tunekit.methods.adalora import schedule
from tunekit.run.model_io import build_model, load_model, save_model


def test_schedule_is_fractions_of_the_total_steps():
    assert schedule(1000, 0.1, 0.2) == (100, 200)
    assert schedule(10, 0.1, 0.2) == (1, 2)


def _adalora(tiny_model_dir, **sections):
    config = method_config(tiny_model_dir, "adalora", "classification", **sections)
    model, _ = build_model(config, LABELS["classification"])
    return model, config


def test_step_hook_wires_the_schedule_to_the_run_total(tiny_model_dir):
    model, config = _adalora(tiny_model_dir, adalora={"init_r": 4, "target_r": 2, "tinit_ratio": 0.25,
                                                     "tfinal_ratio": 0.5})
    METHODS["adalora"].step_hook(model, config, 40)
    peft_config = model.peft_config["default"]
    assert (peft_config.total_step, peft_config.tinit, peft_config.tfinal) == (40, 10, 20)
    assert model.base_model.rankallocator.peft_config is peft_config  # the allocator reads the same schedule


def _active_ranks(model) -> int:
    return sum(int((p != 0).sum()) for name, p in model.named_parameters() if "lora_E" in name)


def test_budget_schedule_prunes_to_the_target_rank_and_the_pruned_adapter_reloads(tiny_model_dir, tmp_path):
    model, config = _adalora(tiny_model_dir)  # init_r 4 -> target_r 2, re-allocated every step
    matrices = sum(1 for name, _ in model.named_parameters() if "lora_E" in name)
    train_steps(model, config, steps=10, total_steps=10)  # tinit 1, tfinal 2: pruning happens within 10 steps
    assert _active_ranks(model) <= 2 * matrices < 4 * matrices
    rank_pattern = model.peft_config["default"].rank_pattern
    assert rank_pattern and sum(sum(mask) for mask in rank_pattern.values()) == 2 * matrices

    expected = logits_of(model)
    save_model(model, AutoTokenizer.from_pretrained(tiny_model_dir), tmp_path / "model", "adalora")
    loaded = load_model(tmp_path / "model", config, LABELS["classification"])
    torch.testing.assert_close(logits_of(loaded), expected, rtol=0, atol=1e-6)
