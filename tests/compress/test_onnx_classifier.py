"""`OnnxClassifier`: the transformers call on an ONNX Runtime session, and the errors for a missing or broken file."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from tiny_fixtures import tiny_sequence_classifier
from tunekit.compress.onnx_classifier import OnnxClassifier
from tunekit.compress.onnx_int8 import export_fp32
from tunekit.errors import RunDirError


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[torch.nn.Module, Path]:
    """A tiny BERT and its fp32 graph, laid out as a run's ``compressed/model.int8.onnx``."""
    model = tiny_sequence_classifier()
    target = tmp_path_factory.mktemp("onnx") / "run" / "compressed" / "model.int8.onnx"
    target.parent.mkdir(parents=True)
    return model, export_fp32(model, target)


IDS = torch.tensor([[2, 11, 23, 40, 3], [2, 17, 9, 3, 0]])


def test_logits_match_the_torch_model(exported):
    model, path = exported
    mask = (IDS != 0).long()
    types = torch.tensor([[0, 0, 0, 1, 1], [0, 0, 1, 1, 0]])
    output = OnnxClassifier(path)(input_ids=IDS, attention_mask=mask, token_type_ids=types)
    assert output.logits.dtype == torch.float32 and output.logits.shape == (2, 3)
    with torch.no_grad():
        torch.testing.assert_close(output.logits, model.eval()(IDS, attention_mask=mask, token_type_ids=types).logits,
                                   atol=1e-4, rtol=0)


def test_missing_mask_and_token_types_default_to_all_tokens_and_segment_zero(exported):
    _, path = exported
    classifier = OnnxClassifier(path)
    explicit = classifier(IDS, attention_mask=torch.ones_like(IDS), token_type_ids=torch.zeros_like(IDS)).logits
    torch.testing.assert_close(classifier(IDS).logits, explicit, atol=0, rtol=0)
    # and the defaults matter: a real mask gives other logits for the padded row
    assert not torch.allclose(classifier(IDS, attention_mask=(IDS != 0).long()).logits[1], explicit[1], atol=1e-4)


def test_a_missing_file_says_to_run_compress(tmp_path):
    with pytest.raises(RunDirError, match="no compressed model") as error:
        OnnxClassifier(tmp_path / "run" / "compressed" / "model.int8.onnx")
    assert f"tunekit compress {tmp_path / 'run'}" in error.value.fix


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_broken_file_says_to_compress_again(exported, tmp_path, damage):
    content = {"truncated": exported[1].read_bytes()[:2000], "garbage": b"not an onnx model\n" * 10,
               "empty": b""}[damage]
    path = tmp_path / "run" / "compressed" / "model.int8.onnx"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(RunDirError, match="could not be loaded") as error:
        OnnxClassifier(path)
    assert f"tunekit compress {tmp_path / 'run'}" in error.value.fix and "corrupted" in error.value.fix


def batches_of_lengths(*lengths: int) -> list[dict[str, torch.Tensor]]:
    """Batches of two rows each, the second row of each one token shorter; ids differ from batch to batch."""
    batches = []
    for n, length in enumerate(lengths):
        ids = torch.arange(length * 2).view(2, length) % 50 + 4 + n
        mask = torch.ones_like(ids)
        mask[1, -1] = 0
        batches.append({"input_ids": ids * mask, "attention_mask": mask})
    return batches


def count_runs(session) -> list[int]:
    """Wrap ``session.run`` to count its calls; returns the one-element counter."""
    calls, run = [0], session.run

    def counted(*args, **kwargs):
        calls[0] += 1
        return run(*args, **kwargs)

    session.run = counted
    return calls


@pytest.mark.parametrize(("batches_at_once", "on_one_core"), [(1, 0), (2, 5), (3, 5), (6, 0)])
def test_logits_per_batch_equal_one_call_per_batch_in_order(exported, batches_at_once, on_one_core):
    _, path = exported
    classifier = OnnxClassifier(path, threads=2, batches_at_once=batches_at_once)
    batches = batches_of_lengths(9, 3, 6, 7, 2)
    expected = [classifier(**batch).logits for batch in batches]
    one_core = count_runs(classifier._one_core) if classifier._one_core is not None else [0]
    got = list(classifier.logits_per_batch(iter(batches)))
    assert len(got) == len(batches)
    for logits, reference in zip(got, expected, strict=True):
        torch.testing.assert_close(logits, reference, atol=1e-5, rtol=0)
    # as many batches as run at once or more: one per core; fewer (6 > 5): one after another on every core
    assert one_core[0] == on_one_core


def test_a_lone_batch_keeps_every_core(exported):
    _, path = exported
    classifier = OnnxClassifier(path, threads=2)
    every_core, one_core = count_runs(classifier.session), count_runs(classifier._one_core)
    (logits,) = classifier.logits_per_batch(batches_of_lengths(5))
    assert logits.shape == (2, 3) and (every_core[0], one_core[0]) == (1, 0)
    assert list(classifier.logits_per_batch([])) == []


def test_one_batch_at_a_time_opens_no_second_session(exported):
    assert OnnxClassifier(exported[1], threads=2, batches_at_once=1)._one_core is None


def test_both_sessions_hold_the_model_as_it_was_when_loaded(exported, tmp_path):
    """A server keeps answering from the model it checked at start, even if `compressed/` is removed or replaced."""
    path = tmp_path / "run" / "compressed" / "model.int8.onnx"
    path.parent.mkdir(parents=True)
    path.write_bytes(exported[1].read_bytes())
    classifier = OnnxClassifier(path, threads=2)
    batches = batches_of_lengths(4, 5, 6)
    expected = [classifier(**batch).logits for batch in batches]
    path.unlink()
    for logits, reference in zip(classifier.logits_per_batch(batches), expected, strict=True):
        torch.testing.assert_close(logits, reference, atol=1e-5, rtol=0)


def test_an_error_in_one_batch_reaches_the_caller_and_no_thread_is_left(exported):
    _, path = exported
    classifier = OnnxClassifier(path, threads=2)
    batches = batches_of_lengths(4, 5, 6, 7)
    batches[2] = {"attention_mask": batches[2]["attention_mask"]}  # no input_ids
    threads_before = threading.active_count()
    with pytest.raises(TypeError, match="input_ids"):
        list(classifier.logits_per_batch(batches))
    assert threading.active_count() == threads_before


def test_batches_are_read_as_they_run_not_all_first(exported):
    _, path = exported
    classifier = OnnxClassifier(path, threads=2)
    one_core = count_runs(classifier._one_core)
    pulled = []

    def batches():
        for n, batch in enumerate(batches_of_lengths(*[4] * 20)):
            pulled.append(n)
            yield batch

    results = classifier.logits_per_batch(batches())
    next(results)
    bound = 2 * classifier.batches_at_once + 1
    assert len(pulled) <= bound  # collated batches held at once stay bounded
    assert len(list(results)) == 19 and len(pulled) == 20 and one_core[0] == 20

    # a caller that stops early leaves the queued batches unrun
    one_core[0] = 0
    results = classifier.logits_per_batch(batches_of_lengths(*[4] * 20))
    next(results)
    results.close()
    assert one_core[0] <= bound
