"""`tunekit train`: read the config and hand it to the recipe for its task."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from tunekit.config import load_config
from tunekit.recipes.train_classifier import train_classifier
from tunekit.recipes.train_tagger import train_tagger
from tunekit.run.setup import default_run_dir, resume_config

TRAINERS = {"classification": train_classifier, "token_classification": train_tagger}


def train_from_command_line(config_path: Path | None, overrides: list[str], *, resume: Path | None = None,
                            overwrite: bool = False, console: Console | None = None) -> Path:
    """`tunekit train [CONFIG] [key=value ...]` or `tunekit train --resume RUN_DIR`; returns the run directory.

    The config file is optional: a first argument of the form key=value is an override.
    """
    if resume is not None:
        config = resume_config(resume)
        return TRAINERS[config.task](config, resume, resume=True, console=console)
    if config_path is not None and "=" in str(config_path) and not config_path.exists():
        overrides, config_path = [str(config_path), *overrides], None
    config = load_config(config_path, overrides)
    run_dir = Path(config.output_dir) if config.output_dir else default_run_dir(
        config_path.stem if config_path else "run")
    return TRAINERS[config.task](config, run_dir, console=console, overwrite=overwrite)
