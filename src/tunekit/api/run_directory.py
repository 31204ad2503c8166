"""What every estimator of the Python API shares: saving its run directory and restoring options on load."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tunekit.atomic import atomic_path
from tunekit.config import RunConfig, config_to_dict
from tunekit.errors import RunDirError

NOT_HYPERPARAMETERS = {"data.train", "data.validation", "data.test", "output_dir"}


def copy_run_dir(run_dir: Path, path: str | Path) -> Path:
    """Copy ``run_dir`` to ``path`` (which must not hold anything yet), atomically, without checkpoints.

    Raises:
        RunDirError: ``path`` exists and is not empty.
    """
    path = Path(path)
    if path.resolve() == Path(run_dir).resolve():
        return path
    if path.exists() and any(path.iterdir()):
        raise RunDirError(f"{path} is not empty", "save to a new directory, or delete the old one first")
    with atomic_path(path) as tmp:
        shutil.copytree(run_dir, tmp, ignore=shutil.ignore_patterns("checkpoints"))
    return path


def extra_overrides(used: RunConfig, implied: RunConfig) -> dict[str, Any] | None:
    """The options of ``used`` that the estimator's own arguments (``implied``) do not reproduce, as dotted
    overrides, so ``clone(loaded).fit(...)`` repeats the same training."""
    implied_flat = flatten(config_to_dict(implied))
    return {key: value for key, value in flatten(config_to_dict(used)).items()
            if value != implied_flat.get(key) and key not in NOT_HYPERPARAMETERS} or None


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
