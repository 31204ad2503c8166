import numpy as np
import torch
import torch.nn.functional as F

from tunekit.training.loss import IGNORED_TOKEN
from tunekit.training.objectives import ExampleObjective, TokenObjective


def _token_targets():
    rng = np.random.default_rng(0)
    targets = []
    for length in (5, 9, 3, 7):
        labels = rng.integers(0, 4, size=length)
        labels[0] = labels[-1] = IGNORED_TOKEN  # [CLS] and [SEP]
        targets.append(labels)
    return targets


def test_token_targets_are_padded_with_the_ignored_id():
    objective = TokenObjective(_token_targets())
    batch = objective.targets(np.array([2, 0]), seq_len=8)
    assert batch.shape == (2, 8)
    assert (batch[0, 3:] == IGNORED_TOKEN).all() and (batch[1, 5:] == IGNORED_TOKEN).all()
    assert objective.weight(np.array([2, 0])) == 1 + 3  # labelled positions only


def test_accumulated_token_loss_equals_the_mean_over_all_labelled_tokens():
    targets = _token_targets()
    objective = TokenObjective(targets)
    logits = torch.randn(4, 9, 4, generator=torch.Generator().manual_seed(1))
    micro_batches = [np.array([0, 1]), np.array([2]), np.array([3])]
    normalizer = sum(objective.weight(b) for b in micro_batches)
    accumulated = sum(objective.summed_loss(logits[b], objective.targets(b, 9)) / normalizer for b in micro_batches)
    everything = objective.targets(np.arange(4), 9)
    expected = F.cross_entropy(logits.flatten(0, 1), everything.flatten(), ignore_index=IGNORED_TOKEN)
    torch.testing.assert_close(accumulated, expected)


def test_token_class_weights_scale_the_normalizer():
    targets = [np.array([IGNORED_TOKEN, 0, 1, 1, IGNORED_TOKEN])]
    objective = TokenObjective(targets, class_weights=torch.tensor([2.0, 0.5]))
    assert objective.weight(np.array([0])) == 2.0 + 0.5 + 0.5


def test_example_objective_gathers_class_ids():
    objective = ExampleObjective(np.array([1, 0, 1]), class_weights=torch.tensor([1.0, 3.0]))
    assert objective.targets(np.array([2, 1]), seq_len=16).tolist() == [1, 0]
    assert objective.weight(np.array([0, 1])) == 4.0
