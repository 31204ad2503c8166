"""The registry: one config value, one config example and one cited paper per method; honest parameter counts."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from method_cases import LABELS, method_config
from tunekit.config import load_config
from tunekit.methods import METHODS, trainable_parameters
from tunekit.run.model_io import build_model

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_every_method_has_a_shipped_config_example():
    shown = {load_config(path).method for path in CONFIGS.glob("*.yaml")}
    assert set(METHODS) <= shown, f"no config example in configs/ for {sorted(set(METHODS) - shown)}"


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_docstring_cites_its_paper(method):
    folder = importlib.import_module(f"tunekit.methods.{_folder(method)}")
    assert re.search(r"(19|20)\d\d", folder.__doc__ or ""), f"{folder.__name__} cites no paper"


def _folder(method: str) -> str:
    return {"rslora": "lora", "dora": "lora", "houlsby": "bottleneck", "pfeiffer": "bottleneck"}.get(method, method)


def test_parameter_counts_include_the_adapter_and_count_the_head_once(tiny_model_dir):
    base, _ = build_model(method_config(tiny_model_dir, "full", "classification"), LABELS["classification"])
    model, _ = build_model(method_config(tiny_model_dir, "lora", "classification"), LABELS["classification"])
    lora = sum(p.numel() for name, p in model.named_parameters() if "lora_" in name)
    head = sum(p.numel() for name, p in base.named_parameters() if name.startswith(("classifier", "bert.pooler")))
    assert lora > 0 and head > 0
    assert trainable_parameters(model) == (lora + head, trainable_parameters(base)[1] + lora)


def test_head_only_trains_exactly_the_head(tiny_model_dir):
    model, _ = build_model(method_config(tiny_model_dir, "head_only", "classification"), LABELS["classification"])
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trained == {"bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"}


def test_bitfit_trains_biases_and_the_head_only(tiny_model_dir):
    model, _ = build_model(method_config(tiny_model_dir, "bitfit", "token_classification"),
                           LABELS["token_classification"])
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trained == {name for name, _ in model.named_parameters()
                       if name.endswith(".bias") or name.startswith("classifier.")}
    assert any(".attention.self.query.bias" in name for name in trained)
