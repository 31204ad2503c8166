"""The `tunekit` command: a thin table of commands, each calling one library function."""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from tunekit.errors import TunekitError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Fine-tune, evaluate and export text classifiers.")
err = Console(stderr=True)


def _friendly_errors(command):
    """Print TunekitErrors as problem + fix (exit 2); Ctrl-C as a resumable interruption (exit 130)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except TunekitError as exc:
            err.print(f"[bold red]error:[/] {exc.problem}")
            if exc.fix:
                err.print(f"[bold]fix:[/] {exc.fix}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted.[/] The last checkpoint is intact: continue with "
                      "`tunekit train --resume RUN_DIR`.")
            raise typer.Exit(130) from None

    return wrapper


@app.command()
@_friendly_errors
def train(
    config: Annotated[Path | None, typer.Argument(help="YAML config (see configs/).")] = None,
    overrides: Annotated[list[str] | None, typer.Argument(help="Dotted overrides: train.learning_rate=3e-5")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue an interrupted run directory.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run in output_dir.")] = False,
) -> None:
    """Fine-tune a model on labeled texts and evaluate it."""
    from tunekit.recipes.train_classifier import train_from_command_line

    run_dir = train_from_command_line(config, overrides or [], resume=resume, overwrite=overwrite, console=Console())
    err.print(f"[green]done:[/] {run_dir} (report: {run_dir / 'report.md'})")


@app.command()
@_friendly_errors
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    data: Annotated[str, typer.Option(help="Labeled file or folder, same columns as training.")],
    out: Annotated[Path | None, typer.Option(help="Output directory (default RUN_DIR/evaluations/...).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Inference batch size.")] = None,
) -> None:
    """Score a run on labeled data: per-class metrics, confusion matrix, calibration, predictions."""
    from tunekit.recipes.evaluate_run import evaluate_run

    _, out_dir = evaluate_run(run_dir, data, out, batch_size, console=Console())
    err.print(f"[green]written:[/] {out_dir}")


@app.command()
@_friendly_errors
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    file: Annotated[Path | None, typer.Option(help="A .txt file (one text per line) or a data file.")] = None,
) -> None:
    """Classify texts; prints one JSON object per text."""
    from tunekit.recipes.predict_texts import predict_texts

    for row in predict_texts(run_dir, texts or [], file):
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


@app.command()
@_friendly_errors
def export(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    merged: Annotated[bool, typer.Option("--merged", help="Merge adapters into the weights.")] = False,
    out: Annotated[Path | None, typer.Option(help="Output directory (default RUN_DIR/export).")] = None,
) -> None:
    """Write a plain transformers model directory that loads without tunekit."""
    from tunekit.run.export import export_run

    if not merged:
        raise TunekitError("only merged export is available", "pass --merged")
    target = export_run(run_dir, out or run_dir / "export")
    err.print(f"[green]exported:[/] {target}  (load with AutoModelForSequenceClassification.from_pretrained)")


@app.command()
@_friendly_errors
def models() -> None:
    """List the models that load offline."""
    from tunekit.models import alias_status

    table = Table(title="offline models (model.name=...)")
    for column in ("alias", "model", "status"):
        table.add_column(column)
    for alias, path, problem in alias_status():
        if problem:
            status = f"[red]broken: {problem}[/]"
        else:
            status = f"[green]installed[/] {path}" if path else f"[yellow]not installed[/]: {alias.install}"
        table.add_row(alias.name, alias.description, status)
    Console().print(table)
    Console().print("Any local Hugging Face model directory works too; hub ids need network access.")


@app.command()
def options() -> None:
    """List every config option with its default and meaning."""
    from tunekit.config import option_help

    table = Table(title="config options (YAML sections, or dotted overrides)")
    for column in ("option", "type", "default", "meaning"):
        table.add_column(column, overflow="fold")
    for name, type_name, default, help_text in option_help():
        table.add_row(name, type_name, repr(default), help_text)
    Console().print(table)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[RichHandler(console=err, show_path=False)])
    app()


if __name__ == "__main__":
    main()
