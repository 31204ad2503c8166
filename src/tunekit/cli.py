"""The `tunekit` command: a thin table of commands, each calling one library function."""

from __future__ import annotations

import enum
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
from tunekit.run.layout import COMPRESSED_PRECISIONS

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Fine-tune, evaluate and export text classifiers.")
err = Console(stderr=True)


# `tunekit compress --precision`: the compressed model's weights
Precision = enum.StrEnum("Precision", {precision: precision for precision in COMPRESSED_PRECISIONS})


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
    from tunekit.recipes.train import train_from_command_line

    run_dir = train_from_command_line(config, overrides or [], resume=resume, overwrite=overwrite, console=Console())
    err.print(f"[green]done:[/] {run_dir} (report: {run_dir / 'report.md'})")


@app.command()
@_friendly_errors
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    data: Annotated[str, typer.Option(help="Labeled file or folder, same columns as training.")],
    out: Annotated[Path | None, typer.Option(help="Output directory (default RUN_DIR/evaluations/...).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Inference batch size.")] = None,
    compressed: Annotated[bool, typer.Option("--compressed", help="Evaluate the ONNX model `tunekit compress` "
                                                                  "wrote.")] = False,
) -> None:
    """Score a run on labeled data: per-class metrics, confusion matrix, calibration, predictions."""
    from tunekit.recipes.evaluate_run import evaluate_run

    _, out_dir = evaluate_run(run_dir, data, out, batch_size, console=Console(), compressed=compressed)
    err.print(f"[green]written:[/] {out_dir}")


@app.command()
@_friendly_errors
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    file: Annotated[Path | None, typer.Option(help="A .txt file (one text per line) or a data file.")] = None,
    compressed: Annotated[bool, typer.Option("--compressed", help="Classify with the ONNX model `tunekit "
                                                                  "compress` wrote.")] = False,
) -> None:
    """Classify texts; prints one JSON object per text."""
    from tunekit.recipes.predict_texts import predict_texts

    for row in predict_texts(run_dir, texts or [], file, compressed=compressed):
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


@app.command()
@_friendly_errors
def compress(
    run_dir: Annotated[Path, typer.Argument(help="A finished classifier run directory.")],
    data: Annotated[str | None, typer.Option(help="Labeled file to check the ONNX model on (default: the run's "
                                                   "validation split).")] = None,
    max_accuracy_drop: Annotated[float, typer.Option(help="Largest loss of accuracy or macro-F1 to accept, as a "
                                                          "fraction.", min=0.0, max=0.99)] = 0.01,
    precision: Annotated[Precision, typer.Option(help="int8: weights quantised, fastest and a quarter the size; "
                                                      "fp32: the run's own weights on ONNX Runtime, no rounding.")]
    = Precision.int8,
) -> None:
    """Write an ONNX copy of a classifier for fast CPU inference, kept only if it classifies as well."""
    from tunekit.recipes.compress_run import compress_run, print_compression_report

    with err.status(f"exporting and checking the {precision.value} model..."):
        report = compress_run(run_dir, data, max_accuracy_drop=max_accuracy_drop, precision=precision.value)
    print_compression_report(report, Console())
    err.print(f"[green]written:[/] {run_dir / 'compressed'}  (use it with --compressed, or `compressed: true` in "
              "the serving config)")


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
    err.print(f"[green]exported:[/] {target}  (load with transformers' AutoModelForSequenceClassification, or "
              "AutoModelForTokenClassification for a tagger, .from_pretrained)")


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


@app.command()
@_friendly_errors
def serve(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    host: Annotated[str, typer.Option(help="Address to bind; loopback unless you mean to expose it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes, each with its own copy of the model.")] = 1,
    config: Annotated[Path | None, typer.Option(help="Serving YAML: limits, batching, alerts (docs/serving.md).")]
    = None,
    store: Annotated[Path | None, typer.Option(help="API key store (default ~/.tunekit/keys.sqlite).")] = None,
    allow_failed_audit: Annotated[bool, typer.Option("--allow-failed-audit",
                                                     help="Serve a run whose audit failed.")] = False,
) -> None:
    """Serve a run as an HTTP API with API keys, micro-batching and monitoring."""
    from tunekit.serve.server import run_server

    run_server(run_dir, host=host, port=port, workers=workers, config_path=config, key_store_path=store,
               allow_failed_audit=allow_failed_audit)


keys_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API keys for `tunekit serve`.")
app.add_typer(keys_app, name="keys")
StoreOption = Annotated[Path | None, typer.Option(help="Key store (default ~/.tunekit/keys.sqlite).")]


@keys_app.command("create")
@_friendly_errors
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key, e.g. billing-service.")],
    scope: Annotated[str, typer.Option(help="predict, explain or admin (admin may call every route).")] = "predict",
    rate_limit: Annotated[int | None, typer.Option(help="Requests per minute; no limit when omitted.")] = None,
    store: StoreOption = None,
) -> None:
    """Create a key and print it once: it cannot be shown again."""
    from tunekit.serve.keys import KeyStore

    key = KeyStore(store).create(name, scope, rate_limit)
    sys.stdout.write(key + "\n")
    err.print(f"[green]created[/] key {name!r} (scope {scope}). Store it now: only its hash is kept.")


@keys_app.command("list")
@_friendly_errors
def keys_list(store: StoreOption = None) -> None:
    """List keys (prefix, name, scope, rate limit, state); never the keys themselves."""
    from tunekit.serve.keys import KeyStore

    table = Table(title="API keys")
    for column in ("prefix", "name", "scope", "rate limit / min", "state"):
        table.add_column(column)
    for key in KeyStore(store).list():
        table.add_row(key.prefix, key.name, key.scope, str(key.rate_limit_per_minute or "none"),
                      "active" if key.active else "[red]revoked[/]")
    Console().print(table)


@keys_app.command("revoke")
@_friendly_errors
def keys_revoke(
    name_or_prefix: Annotated[str, typer.Argument(help="The key's name or prefix (see `tunekit keys list`).")],
    store: StoreOption = None,
) -> None:
    """Revoke keys by name or prefix; running servers refuse them from the next request."""
    from tunekit.serve.keys import KeyStore

    for key in KeyStore(store).revoke(name_or_prefix):
        err.print(f"[yellow]revoked[/] {key.prefix} ({key.name})")


@app.command()
@_friendly_errors
def explain(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to explain.")] = None,
    file: Annotated[Path | None, typer.Option(help="A .txt file, one text per line.")] = None,
    method: Annotated[str, typer.Option(help="integrated_gradients (the run's model) or occlusion (any model).")]
    = "integrated_gradients",
    out: Annotated[Path | None, typer.Option(help="Where the HTML page and PNG go (default RUN_DIR/explain).")]
    = None,
) -> None:
    """Token attributions: which words pushed the prediction, shown here and as HTML and PNG."""
    from tunekit.explain.render import terminal_text
    from tunekit.recipes.explain_texts import explain_run

    lines = file.read_text(encoding="utf-8").splitlines() if file else []
    results, files = explain_run(run_dir, [*(texts or []), *(t for t in lines if t.strip())], method, out)
    console = Console()
    for result in results:
        extra = f", completeness delta {result['relative_delta']:.1%}" if "relative_delta" in result else ""
        console.print(f"[bold]{result['label']}[/] ({result['method']}{extra})")
        console.print(terminal_text(result))
    err.print(f"[green]written:[/] {files['html']}, {files['png']}")


@app.command()
@_friendly_errors
def audit(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    data: Annotated[str, typer.Option(help="Held-out labeled data, same columns as training.")],
    overrides: Annotated[list[str] | None, typer.Argument(help="audit.* options: audit.max_ece=0.05")] = None,
    gate: Annotated[bool, typer.Option("--gate", help="Exit with status 1 when a gated check fails.")] = False,
    contrast: Annotated[str | None, typer.Option(help="Paired original/edited data for contrast sets.")] = None,
    contrast_columns: Annotated[str, typer.Option(help="Its text,label,pair-id columns.")] = "text,label,pair_id",
    contrast_labels: Annotated[str | None, typer.Option(help="Its labels → the model's: Negative=0,Positive=1")]
    = None,
    redact_pii: Annotated[Path | None, typer.Option(help="Write the training texts, PII redacted, to this CSV.")]
    = None,
) -> None:
    """Fairness, robustness, privacy and calibration checks; RUN_DIR/audit/audit.json and the model card."""
    from tunekit.recipes.audit_run import audit_run, parse_label_aliases

    report = audit_run(run_dir, data, overrides=overrides or [], gate=gate, contrast=contrast,
                       contrast_columns=tuple(contrast_columns.split(",")),
                       contrast_labels=parse_label_aliases(contrast_labels), redact_to=redact_pii)
    table = Table(title=f"audit of {run_dir} ({report['examples']} examples)")
    for column in ("check", "value", "threshold", "status"):
        table.add_column(column)
    for check in report["gate"]["checks"]:
        value = check["value"]
        table.add_row(check["check"], "n/a" if value is None else f"{value:.4g}", str(check["threshold"]),
                      check["status"])
    Console().print(table)
    for name, reason in report["skipped"].items():
        err.print(f"[yellow]skipped[/] {name}: {reason}")
    err.print(f"[green]written:[/] {run_dir / 'audit' / 'audit.json'}, audit.html, MODEL_CARD.md")
    if gate and not report["gate"]["passed"]:
        err.print("[bold red]gate failed[/]")
        raise typer.Exit(1)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[RichHandler(console=err, show_path=False)])
    app()


if __name__ == "__main__":
    main()
