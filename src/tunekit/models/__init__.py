"""Model resolution: aliases shipped by PyPI packages, local directories, hub ids."""

from tunekit.models.registry import ALIASES, ModelAlias
from tunekit.models.resolve import alias_status, offline_choices, resolve_model

__all__ = ["ALIASES", "ModelAlias", "alias_status", "offline_choices", "resolve_model"]
