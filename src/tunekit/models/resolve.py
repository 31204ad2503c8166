"""Turn a model name (alias, local directory or hub id) into a local directory, offline-first."""

from __future__ import annotations

from pathlib import Path

from tunekit.errors import ModelUnavailableError, TunekitError
from tunekit.models.registry import ALIASES, ModelAlias


def alias_status() -> list[tuple[ModelAlias, Path | None, str | None]]:
    """(alias, local directory or None when not installed, problem or None) for every alias."""
    rows = []
    for alias in ALIASES.values():
        try:
            rows.append((alias, alias.locate(), None))
        except TunekitError as exc:
            rows.append((alias, None, exc.problem))
    return rows


def offline_choices() -> str:
    """One line per alias with the command that installs it, for error messages."""
    lines = []
    for alias in ALIASES.values():
        lines.append(f"  {alias.name:<12} {alias.description}  (install: {alias.install})")
    return "\n".join(lines)


def resolve_model(name: str) -> Path:
    """Return a local directory holding the model's config, weights and tokenizer.

    Raises:
        ModelUnavailableError: an alias whose package is missing, or a hub id that cannot be fetched.
    """
    if name in ALIASES:
        alias = ALIASES[name]
        path = alias.locate()
        if path is None:
            raise ModelUnavailableError(f"model alias `{name}` is not installed", f"run: {alias.install}")
        return path
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ModelUnavailableError(
                f"{local} is a directory but has no config.json, so it is not a Hugging Face model directory",
                "point `model.name` at the folder that contains config.json and the weights",
            )
        return local
    return _download_from_hub(name)


def _download_from_hub(name: str) -> Path:
    if name.count("/") > 1 or name.startswith((".", "/", "~")):
        raise ModelUnavailableError(
            f"`{name}` is not a model alias, an existing directory, or a hub id",
            f"use one of the offline models:\n{offline_choices()}",
        )
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(
                name,
                allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*"],
                etag_timeout=10,
            )
        )
    except Exception as exc:  # network, auth and not-found errors all end the same way for the user
        raise ModelUnavailableError(
            f"could not fetch `{name}` from the Hugging Face Hub ({type(exc).__name__}); "
            "this machine may be offline or the id may not exist",
            f"use one of the offline models, or a local model directory:\n{offline_choices()}",
        ) from None
