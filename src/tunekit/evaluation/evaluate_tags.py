"""Evaluate a `TagPredictor` on tagged sentences: entity metrics, a predictions file, a type-confusion plot,
the report section and the terminal summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tunekit.atomic import atomic_path
from tunekit.data.tagged import TaggedSentences
from tunekit.evaluation.entities import confusion_matrix, entity_metrics
from tunekit.evaluation.plots import plot_confusion_matrix
from tunekit.inference.tagger import TagPredictor


def evaluate_tagged_split(predictor: TagPredictor, data: TaggedSentences, out_dir: Path, name: str) -> dict[str, Any]:
    """Score ``data``; write ``<name>_predictions.conll`` (word, gold, predicted) and the confusion plot.

    Returns:
        `entity_metrics` plus ``plots`` naming the PNG files written.
    """
    predicted = predictor.predict(data.words)
    result = entity_metrics(data.tags, predicted)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / f"{name}_predictions.conll") as tmp, open(tmp, "w", encoding="utf-8") as f:
        for words, gold, guessed in zip(data.words, data.tags, predicted, strict=True):
            f.writelines(f"{w}\t{g}\t{p}\n" for w, g, p in zip(words, gold, guessed, strict=True))
            f.write("\n")
    matrix, classes = confusion_matrix(result["confusion"])
    plots = {"entity type confusion": f"{name}_confusion_matrix.png"}
    plot_confusion_matrix(matrix, classes, out_dir / plots["entity type confusion"],
                          f"{name} entities ({Path(data.source).name})")
    result["plots"] = plots
    return result


def entity_table(metrics: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    for column in ("entity type", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "entity type" else "right")
    for name, row in metrics["per_type"].items():
        table.add_row(name, f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}", str(row["support"]))
    table.add_section()
    for average in ("micro", "macro"):
        table.add_row(f"{average} avg", *(f"{metrics[f'{average}_{m}']:.4f}" for m in ("precision", "recall", "f1")),
                      str(metrics["entities"]))
    table.add_row("token accuracy", "", "", f"{metrics['token_accuracy']:.4f}", "")
    return table


def print_entity_summary(metrics: dict[str, Any], title: str, console: Console | None = None) -> None:
    (console or Console()).print(entity_table(metrics, title))


def entity_markdown_section(name: str, metrics: dict[str, Any]) -> str:
    """One evaluated split as Markdown: headline scores, per-type table, confusion plot."""
    lines = [f"## {name}", "",
             f"- sentences: {metrics['sentences']} · entities: {metrics['entities']}",
             f"- entity micro F1: **{metrics['micro_f1']:.4f}** (precision {metrics['micro_precision']:.4f}, "
             f"recall {metrics['micro_recall']:.4f}) · macro F1: {metrics['macro_f1']:.4f}",
             f"- token accuracy: {metrics['token_accuracy']:.4f}", "",
             "| entity type | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {t} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |"
              for t, r in metrics["per_type"].items()]
    lines += ["", *(f"![{title}]({file})" for title, file in metrics.get("plots", {}).items()), ""]
    return "\n".join(lines)
