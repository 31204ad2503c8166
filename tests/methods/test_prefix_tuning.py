"""Prefix tuning: it changes BERT's outputs; on MPNet (no past key values) it fails with a reason, not a trace.
Virtual tokens of both prompt methods must fit the position embeddings."""

from __future__ import annotations

import pytest
import torch

from method_cases import LABELS, TASKS, logits_of, method_config
from tunekit.errors import ConfigError
from tunekit.run.model_io import build_model


@pytest.mark.parametrize("task", TASKS)
def test_mpnet_has_no_past_key_values_so_prefix_tuning_names_the_reason(task, tiny_mpnet_dir):
    config = method_config(tiny_mpnet_dir, "prefix_tuning", task)
    with pytest.raises(ConfigError, match="past key values") as excinfo:
        build_model(config, LABELS[task])
    assert "mpnet" in excinfo.value.problem
    assert "prompt_tuning" in excinfo.value.fix


@pytest.mark.parametrize("task", TASKS)
def test_prompt_tuning_works_on_mpnet(task, tiny_mpnet_dir):
    """The alternative the error names does work on that architecture."""
    model, _ = build_model(method_config(tiny_mpnet_dir, "prompt_tuning", task), LABELS[task])
    assert logits_of(model).shape[-1] == LABELS[task].num_labels


@pytest.mark.parametrize("task", TASKS)
def test_bert_prefixes_reach_the_attention(task, tiny_model_dir):
    """Scaling the prefixes changes the logits: the prefixes are not silently dropped by the encoder."""
    model, _ = build_model(method_config(tiny_model_dir, "prefix_tuning", task), LABELS[task])
    before = logits_of(model)
    with torch.no_grad():
        for parameter in model.prompt_encoder.parameters():
            parameter.mul_(10)
    assert not torch.allclose(logits_of(model), before, atol=1e-4)


@pytest.mark.parametrize("method", ["prompt_tuning", "prefix_tuning"])
def test_virtual_tokens_must_fit_the_position_embeddings(method, tiny_model_dir):
    """The tiny BERT has 64 positions: 32 tokens + 40 virtual ones do not fit, and the error says what to lower."""
    config = method_config(tiny_model_dir, method, "classification", prompt={"num_virtual_tokens": 40})
    with pytest.raises(ConfigError, match="exceeds this model's 64 positions") as excinfo:
        build_model(config, LABELS["classification"])
    assert "data.max_seq_len to 24" in excinfo.value.fix
