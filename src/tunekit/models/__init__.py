"""Model resolution: aliases shipped by PyPI packages, local directories, hub ids."""

from tunekit.models.registry import ALIASES, ModelAlias
from tunekit.models.resolve import offline_choices, resolve_model

__all__ = ["ALIASES", "ModelAlias", "offline_choices", "resolve_model"]
