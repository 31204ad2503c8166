"""report.md sections and the terminal summary table."""

from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from tunekit.evaluation.metrics import ClassificationMetrics
from tunekit.evaluation.report import markdown_section, print_summary, summary_table


def metrics_for(classes, seed=0, n=300):
    rng = np.random.default_rng(seed)
    k = len(classes)
    probabilities = rng.dirichlet(np.ones(k), size=n)
    metrics = ClassificationMetrics(classes)
    metrics.update(probabilities, rng.integers(0, k, size=n))
    return metrics.compute()


def render(table) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(table)
    return console.file.getvalue()


def test_markdown_section_has_every_class_and_the_plots():
    classes = [f"intent_{i}" for i in range(77)]
    metrics = metrics_for(classes)
    text = markdown_section("test", metrics, {"confusion matrix": "plots/test_confusion.png"})
    assert text.startswith("## test\n")
    for name in classes:
        row = metrics["per_class"][name]
        numbers = f"{row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']}"
        assert f"| {name} | {numbers} |" in text
    assert f"accuracy: **{metrics['accuracy']:.4f}**" in text
    assert f"macro F1: {metrics['macro_f1']:.4f}" in text
    assert f"expected calibration error: {metrics['ece']:.4f}" in text
    assert "| *weighted avg* |" in text
    assert "![confusion matrix](plots/test_confusion.png)" in text


def test_summary_table_has_every_class():
    classes = ["billing", "card", "refund"]
    metrics = metrics_for(classes, seed=1)
    text = render(summary_table(metrics, "validation"))
    for name in classes:
        assert name in text
        assert f"{metrics['per_class'][name]['f1']:.4f}" in text
    assert "macro avg" in text and "micro avg" in text and "weighted avg" in text
    assert f"{metrics['accuracy']:.4f}" in text
    assert "validation" in text


def test_summary_table_truncates_many_classes():
    classes = [f"c{i:02d}" for i in range(77)]
    text = render(summary_table(metrics_for(classes), "test", max_classes=30))
    assert "c29" in text
    assert "c30" not in text
    assert "47 more (report.md)" in text


def test_print_summary_writes_to_the_console():
    console = Console(file=io.StringIO(), width=200, color_system=None)
    print_summary(metrics_for(["a", "b"]), "dev", console=console)
    assert "ECE" in console.file.getvalue()
