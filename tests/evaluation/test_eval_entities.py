import random

import pytest
from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from tunekit.evaluation.entities import NO_ENTITY, confusion_matrix, entity_metrics


def _random_tags(rng, n):
    tags, previous = [], "O"
    for _ in range(n):
        choice = rng.choice(["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
        if choice.startswith("I-") and previous[2:] != choice[2:]:
            choice = "B-" + choice[2:]  # keep gold and predictions valid IOB2
        tags.append(choice)
        previous = choice
    return tags


@pytest.mark.parametrize("seed", range(5))
def test_scores_equal_seqeval_strict_iob2(seed):
    rng = random.Random(seed)
    gold = [_random_tags(rng, rng.randint(1, 12)) for _ in range(40)]
    predicted = [_random_tags(rng, len(g)) for g in gold]
    metrics = entity_metrics(gold, predicted)
    strict = {"mode": "strict", "scheme": IOB2}
    assert metrics["micro_f1"] == pytest.approx(f1_score(gold, predicted, **strict))
    assert metrics["micro_precision"] == pytest.approx(precision_score(gold, predicted, **strict))
    assert metrics["micro_recall"] == pytest.approx(recall_score(gold, predicted, **strict))
    assert metrics["macro_f1"] == pytest.approx(f1_score(gold, predicted, average="macro", **strict))
    assert metrics["token_accuracy"] == pytest.approx(accuracy_score(gold, predicted))


def test_a_wrong_boundary_is_not_a_match():
    metrics = entity_metrics([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    assert metrics["micro_f1"] == 0.0
    assert metrics["token_accuracy"] == pytest.approx(2 / 3)


def test_type_confusion_counts_swaps_misses_and_spurious_entities():
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG", "O", "B-LOC"]]
    confusion = entity_metrics(gold, predicted)["confusion"]
    assert confusion == {"PER": {"PER": 1}, "LOC": {"ORG": 1}, NO_ENTITY: {"LOC": 1}}
    matrix, classes = confusion_matrix(confusion)
    assert classes == ["LOC", "ORG", "PER", NO_ENTITY]
    assert matrix.tolist() == [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0]]
    assert entity_metrics([["B-PER"]], [["O"]])["confusion"] == {"PER": {NO_ENTITY: 1}}
