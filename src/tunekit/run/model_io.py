"""Build, save, load and export models (either task); the adaptation method decides how. Only safetensors are ever
read."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn
from transformers import AutoTokenizer
from transformers.utils import logging as hf_logging

from tunekit.atomic import atomic_path
from tunekit.config.schema import RunConfig
from tunekit.data.labels import LabelMap
from tunekit.errors import RunDirError, TunekitError
from tunekit.methods import METHODS
from tunekit.methods.tasks import AUTO_MODEL_CLASSES
from tunekit.models import resolve_model

hf_logging.set_verbosity_error()  # "newly initialised classifier" notices are expected, not news
hf_logging.disable_progress_bar()  # our own progress bar is the one that matters
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)  # peft internals


def _base_model(model_dir: Path, label_map: LabelMap, task: str = "classification") -> nn.Module:
    """The pretrained encoder in ``model_dir`` with a new head for ``task`` (sequence or token classification)."""
    id2label = {i: str(c) for i, c in enumerate(label_map.classes)}
    problem_type = {"problem_type": "multi_label_classification" if label_map.multi_label
                    else "single_label_classification"} if task == "classification" else {}
    try:
        return AUTO_MODEL_CLASSES[task].from_pretrained(
            model_dir,
            num_labels=label_map.num_labels,
            id2label=id2label,
            label2id={v: k for k, v in id2label.items()},
            use_safetensors=True,
            dtype=torch.float32,
            **problem_type,
        )
    except (OSError, ValueError, KeyError) as exc:
        raise TunekitError(f"could not load the model in {model_dir}: {exc}",
                           "check that the directory holds config.json and model.safetensors") from None


def build_model(config: RunConfig, label_map: LabelMap) -> tuple[nn.Module, Path]:
    """A fresh model for ``config``: the pretrained encoder, a new head, the adaptation method applied.

    The head's initialisation is seeded by ``config.train.seed``.
    """
    model_dir = resolve_model(config.model.name)
    torch.manual_seed(config.train.seed)
    model = _base_model(model_dir, label_map, config.task)
    return METHODS[config.method].apply(model, config), model_dir


def load_tokenizer(path: Path):
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise RunDirError(f"could not load a tokenizer from {path}: {exc}",
                          "the run directory is incomplete; re-run `tunekit train`") from None


def save_model(model: nn.Module, tokenizer, target: Path, method: str) -> None:
    """Write the weights (safetensors, as ``method`` saves them) and the tokenizer to ``target`` atomically."""
    with atomic_path(target) as tmp:
        METHODS[method].save(model, tmp)
        tokenizer.save_pretrained(tmp)


def load_model(model_dir: Path, config: RunConfig, label_map: LabelMap) -> nn.Module:
    """Load the trained model in ``model_dir`` the way ``config.method`` saved it, in eval mode.

    Raises:
        RunDirError: weights missing, not safetensors, or unreadable.
    """
    if not model_dir.is_dir():
        raise RunDirError(f"{model_dir} does not exist", "train first, or point at a finished run directory")
    method = METHODS[config.method]
    weights = method.weights_file
    if not (model_dir / weights).is_file():
        unsafe = sorted(p.name for p in model_dir.glob("*.bin"))
        raise RunDirError(
            f"{model_dir} has no {weights}" + (f" (found {', '.join(unsafe)}, which tunekit never unpickles)"
                                               if unsafe else ""),
            "re-export the weights as safetensors, or re-run `tunekit train`",
        )
    try:
        model = method.load(model_dir, config,
                            lambda: _base_model(resolve_model(config.model.name), label_map, config.task))
    except TunekitError:
        raise
    except Exception as exc:  # a truncated or corrupted file surfaces as many different library errors
        raise RunDirError(f"{model_dir / weights} could not be read ({type(exc).__name__}: {exc})",
                          "the file is corrupted or incomplete; re-run `tunekit train --resume` or retrain") from None
    return model.eval()


def export_merged(model: nn.Module, method: str, tokenizer, label_map: LabelMap, target: Path,
                  thresholds: list[float] | None = None) -> Path:
    """Write a plain transformers model (adapters merged into the weights) that loads without tunekit.

    ``tunekit_labels.json`` beside it keeps the label order and, for multi-label models, the tuned thresholds.

    Raises:
        TunekitError: ``method`` cannot merge (prompt or prefix tuning, bottleneck adapters); it says why.
    """
    model = METHODS[method].merge(model)
    model.config.id2label = {i: str(c) for i, c in enumerate(label_map.classes)}
    model.config.label2id = {str(c): i for i, c in enumerate(label_map.classes)}
    with atomic_path(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        labels = {**label_map.to_json(), **({"thresholds": thresholds} if thresholds is not None else {})}
        (tmp / "tunekit_labels.json").write_text(json.dumps(labels, indent=2))
    return target


