"""Resumable checkpoints written atomically: a run killed at any moment keeps its last good one.

Layout under ``checkpoints/``: ``step-<N>/`` directories, each complete before it appears (one
rename), and ``latest.json`` naming the newest, replaced in one rename after the directory exists.
Only safetensors and JSON are written, so resuming never unpickles anything.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from tunekit.atomic import atomic_path, read_json, write_json
from tunekit.errors import RunDirError

TRAINABLE = "trainable.safetensors"


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors that training changes (requires_grad parameters), by name."""
    return {name: p.detach().contiguous().clone() for name, p in model.named_parameters() if p.requires_grad}


def save_trainable(model: nn.Module, target: Path) -> None:
    with atomic_path(target) as tmp:
        save_file(trainable_state(model), str(tmp))


def load_trainable(model: nn.Module, source: Path) -> None:
    tensors = _read_tensors(source)
    parameters = dict(model.named_parameters())
    missing = [name for name, p in parameters.items() if p.requires_grad and name not in tensors]
    if missing:
        raise RunDirError(f"{source} lacks {len(missing)} trained tensors (e.g. {missing[0]})",
                          "the checkpoint belongs to another model or method; start a new run")
    with torch.no_grad():
        for name, tensor in tensors.items():
            parameters[name].copy_(tensor)


@dataclass
class TrainerState:
    """Where training stands: enough to continue exactly where it stopped."""

    step: int = 0
    epoch: int = 0
    batches_done_in_epoch: int = 0
    examples_seen: int = 0
    early_stopping: dict[str, Any] | None = None
    finished: bool = False


def save_checkpoint(checkpoints: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, state: TrainerState,
                    keep: int = 1) -> Path:
    """Write a complete checkpoint, then point ``latest.json`` at it, then prune older ones."""
    name = f"step-{state.step:08d}"
    with atomic_path(checkpoints / name) as tmp:
        tmp.mkdir()
        save_file(trainable_state(model), str(tmp / TRAINABLE))
        tensors, meta = _flatten_optimizer(optimizer.state_dict())
        tensors["rng/torch"] = torch.get_rng_state()
        if torch.cuda.is_available():  # dropout on a GPU draws from the device generators
            tensors.update({f"rng/cuda/{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "trainer_state.json").write_text(json.dumps({
            "trainer": state.__dict__,
            "optimizer": meta,
            "scheduler": scheduler.state_dict(),
        }, indent=2))
    write_json(checkpoints / "latest.json", {"checkpoint": name})
    kept = sorted(p for p in checkpoints.glob("step-*") if p.is_dir())
    for old in kept[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return checkpoints / name


def latest_checkpoint(checkpoints: Path) -> Path | None:
    pointer = checkpoints / "latest.json"
    if not pointer.is_file():
        return None
    try:
        path = checkpoints / read_json(pointer)["checkpoint"]
    except (OSError, ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise RunDirError(f"{pointer} is unreadable ({exc})", "start the run again without --resume") from None
    if not path.is_dir():
        raise RunDirError(f"{pointer} names {path.name}, which is missing", "start the run again without --resume")
    return path


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler) -> TrainerState:
    """Restore model, optimizer, scheduler and the RNG from ``path``; return the trainer state."""
    load_trainable(model, path / TRAINABLE)
    tensors = _read_tensors(path / "optimizer.safetensors")
    try:
        saved = json.loads((path / "trainer_state.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}/trainer_state.json is unreadable ({exc})", "start the run again") from None
    torch.set_rng_state(tensors.pop("rng/torch"))
    cuda_states = [tensors.pop(key) for key in sorted(k for k in tensors if k.startswith("rng/cuda/"))]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states)
    optimizer.load_state_dict(_unflatten_optimizer(tensors, saved["optimizer"]))
    scheduler.load_state_dict(saved["scheduler"])
    return TrainerState(**saved["trainer"])


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise RunDirError(f"{path} is missing or corrupted ({exc})",
                          "start the run again; an interrupted write never replaces a good checkpoint") from None


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state_dict["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state/{index}/{key}"] = value.contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        _, index, name = key.split("/", 2)
        state.setdefault(int(index), {})[name] = tensor
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}
