"""Shared by the method and training tests: tiny configs for any method and task, random batches, a few steps."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tiny_fixtures import tiny_run_config
from tunekit.config import RunConfig
from tunekit.data.labels import LabelMap
from tunekit.methods import METHODS

TASKS = ("classification", "token_classification")
LABELS = {"classification": LabelMap(("negative", "positive")),
          "token_classification": LabelMap(("B-ORG", "B-PER", "I-ORG", "I-PER", "O"))}
VOCAB_SIZE, SEQ_LEN = 30, 12  # the tiny BERT's vocabulary has more words; ids >= 5 skip the special tokens


def method_config(model_dir: Path, method: str, task: str, **sections) -> RunConfig:
    """A tiny config with small adapters (rank 4, 4 virtual tokens, bottleneck 8) for ``method`` on ``task``."""
    small = {"lora": {"r": 4, "alpha": 8, "dropout": 0.0}, "adalora": {"init_r": 4, "target_r": 2, "delta_t": 1},
             "prompt": {"num_virtual_tokens": 4}, "adapter": {"reduction_factor": 4}}
    for section, values in sections.items():
        small[section] = {**small.get(section, {}), **values}
    return tiny_run_config(model_dir, method=method, task=task, **small)


def random_batch(seed: int, batch_size: int = 4) -> dict[str, torch.Tensor]:
    """Token ids with a padded tail on half of the rows."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, VOCAB_SIZE, (batch_size, SEQ_LEN), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[::2, SEQ_LEN - 3:] = 0
    return {"input_ids": input_ids * attention_mask, "attention_mask": attention_mask}


def random_targets(task: str, seed: int, batch_size: int = 4) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (batch_size,) if task == "classification" else (batch_size, SEQ_LEN)
    return torch.randint(0, LABELS[task].num_labels, shape, generator=generator)


def train_steps(model: nn.Module, config: RunConfig, steps: int = 4, total_steps: int = 100,
                learning_rate: float = 1e-2) -> None:
    """A few AdamW steps on random batches, calling the method's step hook as the training loop does."""
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    hook = METHODS[config.method].step_hook(model, config, total_steps)
    for step in range(1, steps + 1):
        logits = model(**random_batch(step)).logits
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                           random_targets(config.task, step).reshape(-1))
        loss.backward()
        optimizer.step()
        if hook is not None:
            hook(step)
        optimizer.zero_grad(set_to_none=True)
    model.eval()


@torch.no_grad()
def logits_of(model: nn.Module, seed: int = 99) -> torch.Tensor:
    return model.eval()(**random_batch(seed)).logits
