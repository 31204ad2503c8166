"""Bottleneck adapters: placement per paper, identity at initialisation, what trains, the bottleneck size."""

from __future__ import annotations

import pytest
import torch

from method_cases import LABELS, TASKS, logits_of, method_config
from tunekit.config import RunConfig
from tunekit.errors import ConfigError
from tunekit.methods.bottleneck.layer import Bottleneck, WithAdapter
from tunekit.run.model_io import build_model


def _build(tiny_model_dir, method: str, task: str = "classification", **sections):
    model, _ = build_model(method_config(tiny_model_dir, method, task, **sections), LABELS[task])
    return model


@pytest.mark.parametrize(("method", "places"), [("houlsby", {"attention.output.dense", "output.dense"}),
                                                ("pfeiffer", {"output.dense"})])
def test_adapters_sit_where_the_paper_puts_them(method, places, tiny_model_dir):
    model = _build(tiny_model_dir, method)
    wrapped = {name for name, module in model.named_modules() if isinstance(module, WithAdapter)}
    expected = {f"bert.encoder.layer.{i}.{place}" for i in range(2) for place in places}
    assert wrapped == expected


@pytest.mark.parametrize("method", ["houlsby", "pfeiffer"])
@pytest.mark.parametrize("task", TASKS)
def test_a_new_adapter_is_the_identity(method, task, tiny_model_dir):
    base = _build(tiny_model_dir, "full", task)
    model = _build(tiny_model_dir, method, task)
    torch.testing.assert_close(logits_of(model), logits_of(base), rtol=0, atol=0)


def test_houlsby_trains_layer_norms_and_pfeiffer_does_not(tiny_model_dir):
    def trained_layer_norms(method: str) -> int:
        return sum(1 for name, p in _build(tiny_model_dir, method).named_parameters()
                   if "LayerNorm" in name and p.requires_grad)

    assert trained_layer_norms("houlsby") == 2 * (1 + 2 * 2)  # embeddings + two per layer, weight and bias
    assert trained_layer_norms("pfeiffer") == 0


def test_bottleneck_size_is_hidden_over_reduction_factor(tiny_model_dir):
    model = _build(tiny_model_dir, "pfeiffer", adapter={"reduction_factor": 8})
    adapters = [module for module in model.modules() if isinstance(module, Bottleneck)]
    assert {adapter.down.out_features for adapter in adapters} == {32 // 8}
    assert all(torch.count_nonzero(adapter.up.weight) == 0 for adapter in adapters)


def test_unknown_architecture_is_refused_with_the_alternative(tiny_model_dir):
    model = _build(tiny_model_dir, "full")
    model.config.model_type = "gpt_neo"
    from tunekit.methods import METHODS

    config: RunConfig = method_config(tiny_model_dir, "houlsby", "classification")
    with pytest.raises(ConfigError, match="no placement for model type `gpt_neo`") as excinfo:
        METHODS["houlsby"].apply(model, config)
    assert "lora" in excinfo.value.fix
