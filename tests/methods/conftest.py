"""A tiny MPNet beside the shared tiny BERT: the second architecture the methods support."""

from __future__ import annotations

import pytest
import torch
from transformers import MPNetConfig, MPNetModel


@pytest.fixture(scope="session")
def tiny_mpnet_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-mpnet")
    config = MPNetConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    MPNetModel(config).save_pretrained(root)
    return root
