"""Resumable checkpoints: exact round trip, atomic replacement, clear errors, no pickle."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

import tunekit.training.checkpoint as checkpoint_module
from tunekit.errors import RunDirError
from tunekit.training.checkpoint import (
    TrainerState,
    latest_checkpoint,
    load_checkpoint,
    load_trainable,
    save_checkpoint,
    save_trainable,
)
from tunekit.training.optimizer import build_optimizer
from tunekit.training.schedule import build_scheduler


def _setup(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 2))
    model[0].bias.requires_grad_(False)  # a frozen tensor: not checkpointed, must stay as built
    optimizer = build_optimizer(model, learning_rate=1e-2, weight_decay=0.01)
    scheduler = build_scheduler(optimizer, "cosine", warmup_steps=2, total_steps=20)
    return model, optimizer, scheduler


def _train(model, optimizer, scheduler, steps: int) -> None:
    for _ in range(steps):
        features = torch.randn(5, 4)
        loss = model(features).logsumexp(dim=1).mean()
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)


def _trained_checkpoint(tmp_path, steps: int = 3):
    model, optimizer, scheduler = _setup()
    _train(model, optimizer, scheduler, steps)
    state = TrainerState(step=steps, epoch=1, batches_done_in_epoch=2, examples_seen=15,
                         early_stopping={"metric": "loss", "patience": 2, "best": 0.5, "best_step": 2,
                                         "evaluations_without_improvement": 1})
    path = save_checkpoint(tmp_path / "checkpoints", model, optimizer, scheduler, state)
    return model, optimizer, scheduler, state, path


def test_round_trip_restores_weights_optimizer_scheduler_and_rng(tmp_path):
    model, optimizer, scheduler, state, path = _trained_checkpoint(tmp_path)
    next_random = torch.rand(4)

    torch.manual_seed(1234)  # a different RNG stream, weights and optimizer
    fresh_model, fresh_optimizer, fresh_scheduler = _setup(seed=7)
    restored = load_checkpoint(path, fresh_model, fresh_optimizer, fresh_scheduler)

    assert torch.equal(torch.rand(4), next_random)
    assert restored == state
    for (name, expected), (_, actual) in zip(model.state_dict().items(), fresh_model.state_dict().items(),
                                            strict=True):
        if name != "0.bias":
            assert torch.equal(actual, expected), name
    saved_state, loaded_state = optimizer.state_dict(), fresh_optimizer.state_dict()
    assert saved_state["state"].keys() == loaded_state["state"].keys() and len(saved_state["state"]) > 0
    for index, values in saved_state["state"].items():
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(loaded_state["state"][index][key], values[key]), (index, key)
    assert [g["lr"] for g in fresh_optimizer.param_groups] == [g["lr"] for g in optimizer.param_groups]
    assert [g["weight_decay"] for g in fresh_optimizer.param_groups] == [0.01, 0.0]
    assert fresh_scheduler.state_dict()["last_epoch"] == scheduler.state_dict()["last_epoch"] == 3
    assert fresh_scheduler.get_last_lr() == scheduler.get_last_lr()


def test_training_continues_bit_identically_after_loading(tmp_path):
    model, optimizer, scheduler, _, path = _trained_checkpoint(tmp_path)
    _train(model, optimizer, scheduler, 4)

    fresh_model, fresh_optimizer, fresh_scheduler = _setup()  # same frozen tensors (same base model)
    _train(fresh_model, fresh_optimizer, fresh_scheduler, 5)  # ...but elsewhere in training
    load_checkpoint(path, fresh_model, fresh_optimizer, fresh_scheduler)
    _train(fresh_model, fresh_optimizer, fresh_scheduler, 4)  # same random batches: the RNG was restored

    for expected, actual in zip(model.parameters(), fresh_model.parameters(), strict=True):
        if expected.requires_grad:
            assert torch.equal(actual, expected)
    assert fresh_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


def test_frozen_tensors_are_not_saved(tmp_path):
    *_, path = _trained_checkpoint(tmp_path)
    names = set(load_file(str(path / "trainable.safetensors")))
    assert names == {"0.weight", "1.weight", "1.bias", "2.weight", "2.bias"}


def test_only_safetensors_and_json_are_written_and_nothing_is_unpickled(tmp_path, monkeypatch):
    def no_pickle(*args, **kwargs):
        raise AssertionError("pickle used")

    monkeypatch.setattr(torch, "save", no_pickle)
    monkeypatch.setattr(torch, "load", no_pickle)
    model, optimizer, scheduler, _, path = _trained_checkpoint(tmp_path)
    save_trainable(model, tmp_path / "checkpoints" / "best" / "trainable.safetensors")
    load_checkpoint(path, *_setup(seed=3))
    files = [p for p in (tmp_path / "checkpoints").rglob("*") if p.is_file()]
    assert len(files) == 5
    assert {p.suffix for p in files} == {".safetensors", ".json"}
    for p in files:
        if p.suffix == ".json":
            json.loads(p.read_text())


def test_older_checkpoints_are_pruned_and_latest_points_at_the_newest(tmp_path):
    model, optimizer, scheduler = _setup()
    checkpoints = tmp_path / "checkpoints"
    for step in (3, 6, 9):
        save_checkpoint(checkpoints, model, optimizer, scheduler, TrainerState(step=step))
    assert sorted(p.name for p in checkpoints.iterdir()) == ["latest.json", "step-00000009"]
    assert latest_checkpoint(checkpoints) == checkpoints / "step-00000009"


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, optimizer, scheduler = _setup()
    checkpoints = tmp_path / "checkpoints"
    save_checkpoint(checkpoints, model, optimizer, scheduler, TrainerState(step=1))
    first_weights = {k: v.clone() for k, v in model.state_dict().items()}
    _train(model, optimizer, scheduler, 2)

    real_save_file, calls = checkpoint_module.save_file, []

    def crash_on_optimizer_file(tensors, filename, *args, **kwargs):
        calls.append(filename)
        if filename.endswith("optimizer.safetensors"):  # trainable.safetensors of step 2 is already written
            raise OSError("disk full")
        return real_save_file(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module, "save_file", crash_on_optimizer_file)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(checkpoints, model, optimizer, scheduler, TrainerState(step=2))
    assert len(calls) == 2  # the second checkpoint failed half-way

    assert sorted(os.listdir(checkpoints)) == ["latest.json", "step-00000001"]  # no partial or temporary dir
    assert json.loads((checkpoints / "latest.json").read_text()) == {"checkpoint": "step-00000001"}
    fresh = _setup(seed=5)
    state = load_checkpoint(latest_checkpoint(checkpoints), *fresh)
    assert state.step == 1
    for name, tensor in fresh[0].state_dict().items():
        if name != "0.bias":
            assert torch.equal(tensor, first_weights[name]), name


def _corrupt_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_garbage(path):
    path.write_bytes(b"\x00\x01 not a safetensors file at all")


@pytest.mark.parametrize("corrupt", [_corrupt_truncate, _corrupt_garbage, lambda path: path.unlink()])
def test_corrupted_trainable_file_is_a_run_dir_error_with_a_fix(tmp_path, corrupt):
    *_, path = _trained_checkpoint(tmp_path)
    corrupt(path / "trainable.safetensors")
    with pytest.raises(RunDirError) as error:
        load_checkpoint(path, *_setup())
    assert "trainable.safetensors" in error.value.problem
    assert error.value.fix


def test_corrupted_optimizer_or_trainer_state_is_a_run_dir_error(tmp_path):
    *_, path = _trained_checkpoint(tmp_path)
    (path / "trainer_state.json").write_text('{"trainer": {"step"')
    with pytest.raises(RunDirError, match="trainer_state.json"):
        load_checkpoint(path, *_setup())
    _corrupt_truncate(path / "optimizer.safetensors")
    with pytest.raises(RunDirError, match="optimizer.safetensors") as error:
        load_checkpoint(path, *_setup())
    assert error.value.fix


def test_trainable_file_of_another_model_is_refused(tmp_path):
    model, *_ = _setup()
    save_trainable(torch.nn.Linear(4, 8), tmp_path / "other.safetensors")
    with pytest.raises(RunDirError, match="lacks") as error:
        load_trainable(model, tmp_path / "other.safetensors")
    assert error.value.fix


def test_latest_checkpoint(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    assert latest_checkpoint(checkpoints) is None
    checkpoints.mkdir()
    (checkpoints / "latest.json").write_text('{"checkpoint": "step-00000042"}')
    with pytest.raises(RunDirError, match="step-00000042") as error:
        latest_checkpoint(checkpoints)
    assert error.value.fix


@pytest.mark.parametrize("content", ['{"checkpoint": "step-0', "[]", '{"other": 1}'])
def test_unreadable_latest_pointer_is_a_run_dir_error(tmp_path, content):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    (checkpoints / "latest.json").write_text(content)
    with pytest.raises(RunDirError, match="latest.json") as error:
        latest_checkpoint(checkpoints)
    assert error.value.fix
