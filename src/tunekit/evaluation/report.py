"""report.md and the terminal summary of an evaluation."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

AVERAGES = ("macro", "micro", "weighted")


def summary_table(metrics: dict[str, Any], title: str, max_classes: int = 30) -> Table:
    table = Table(title=title)
    for column in ("class", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    per_class = list(metrics["per_class"].items())
    for name, row in per_class[:max_classes]:
        table.add_row(name, f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}", str(row["support"]))
    if len(per_class) > max_classes:
        table.add_row(f"... {len(per_class) - max_classes} more (report.md)", "", "", "", "")
    table.add_section()
    for average in AVERAGES:
        table.add_row(f"{average} avg", *(f"{metrics[f'{average}_{m}']:.4f}" for m in ("precision", "recall", "f1")),
                      str(metrics["examples"]))
    table.add_row("accuracy", "", "", f"{metrics['accuracy']:.4f}", str(metrics["examples"]))
    table.add_row("ECE", "", "", f"{metrics['ece']:.4f}", "")
    return table


def print_summary(metrics: dict[str, Any], title: str, console: Console | None = None) -> None:
    (console or Console()).print(summary_table(metrics, title))


def markdown_section(name: str, metrics: dict[str, Any], plots: dict[str, str]) -> str:
    """One evaluated split as Markdown: headline numbers, per-class table, plots."""
    lines = [f"## {name}", "",
             f"- examples: {metrics['examples']}",
             f"- accuracy: **{metrics['accuracy']:.4f}**",
             f"- macro F1: {metrics['macro_f1']:.4f} · micro F1: {metrics['micro_f1']:.4f} · "
             f"weighted F1: {metrics['weighted_f1']:.4f}",
             f"- log-loss: {metrics['loss']:.4f} · expected calibration error: {metrics['ece']:.4f}", "",
             "| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for label, row in metrics["per_class"].items():
        lines.append(f"| {label} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |")
    for average in AVERAGES:
        lines.append(f"| *{average} avg* | {metrics[f'{average}_precision']:.4f} | {metrics[f'{average}_recall']:.4f} "
                     f"| {metrics[f'{average}_f1']:.4f} | {metrics['examples']} |")
    lines.append("")
    for caption, file in plots.items():
        lines += [f"![{caption}]({file})", ""]
    return "\n".join(lines)


def report_header(config: Any, t: dict) -> str:
    """The top of report.md: model, method, trainable parameters, training budget, best checkpoint."""
    return "\n".join([
        f"# tunekit report: {config.model.name}, {config.method}", "",
        f"- trainable parameters: {t['trainable_parameters']:,} of {t['total_parameters']:,} "
        f"({100 * t['trainable_parameters'] / t['total_parameters']:.2f}%)",
        f"- training: {t['train_examples']} examples, {t['epochs']} epochs planned, {t['steps']} optimiser steps "
        f"run, learning rate {t['learning_rate']:.1e}, bf16 {t['bf16']}",
        f"- best checkpoint: step {t['best_step']}", "", ""])
