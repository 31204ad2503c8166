"""Every method but prefix tuning (see test_prefix_tuning.py) adapts MPNet too, for both tasks."""

from __future__ import annotations

import pytest
import torch

from method_cases import LABELS, TASKS, logits_of, method_config, train_steps
from tunekit.methods import METHODS
from tunekit.run.model_io import build_model

ON_MPNET = [(method, task) for method in METHODS if method != "prefix_tuning" for task in TASKS]


@pytest.mark.parametrize(("method", "task"), ON_MPNET)
def test_method_trains_on_mpnet(method, task, tiny_mpnet_dir):
    config = method_config(tiny_mpnet_dir, method, task)
    model, _ = build_model(config, LABELS[task])
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    declared = {name for name, p in model.named_parameters() if p.requires_grad}
    train_steps(model, config)
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert changed == declared
    assert logits_of(model).shape[-1] == LABELS[task].num_labels
