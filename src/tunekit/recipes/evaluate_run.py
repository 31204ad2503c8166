"""Recipe: evaluate a finished run directory on a labeled file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from tunekit.atomic import write_json, write_text
from tunekit.compress.source import tagger_not_compressed
from tunekit.data.prepare import load_labeled, warn_on_overlap
from tunekit.data.prepare_tagged import load_tagged
from tunekit.errors import DataError
from tunekit.evaluation.evaluate import evaluate_split
from tunekit.evaluation.evaluate_tags import entity_markdown_section, evaluate_tagged_split, print_entity_summary
from tunekit.evaluation.report import markdown_section, print_summary
from tunekit.inference.predictor import Predictor
from tunekit.inference.tagger import TagPredictor
from tunekit.run.layout import RunLayout
from tunekit.run.setup import run_task


def evaluate_run(run_dir: Path, data_path: str, out_dir: Path | None = None, batch_size: int | None = None,
                 console: Console | None = None, compressed: bool = False) -> tuple[dict[str, Any], Path]:
    """Evaluate ``run_dir``'s model on ``data_path`` (same column mapping as training).

    Writes metrics.json, report.md, predictions and plots into ``out_dir``
    (default ``RUN_DIR/evaluations/<file>-<time>``); prints a summary to ``console`` if given.
    Also warns when evaluation texts occur in the run's training data. ``compressed``: evaluate the run's ONNX
    model (`tunekit compress`, int8 or fp32). Returns (metrics, out_dir).
    """
    if run_task(run_dir) == "token_classification":
        if compressed:
            raise tagger_not_compressed(run_dir, "drop --compressed")
        return evaluate_tagger_run(run_dir, data_path, out_dir, batch_size, console)
    predictor = Predictor.from_run_dir(run_dir, batch_size=batch_size, compressed=compressed)
    data_config = predictor.config.data
    data = load_labeled(data_path, data_config)
    if data_config.train and Path(data_config.train).exists():
        warn_on_overlap(load_labeled(data_config.train, data_config), data)
    precision = predictor.compressed.precision if compressed else None  # the model loaded
    suffix = f"-{precision}" if compressed else ""
    out_dir = out_dir or (RunLayout(run_dir).evaluations
                          / f"{Path(data_path).stem}{suffix}-{datetime.now():%Y%m%d-%H%M%S}")
    metrics = evaluate_split(predictor, data, out_dir, "eval", data_config.label_delimiter,
                             predictor.config.eval.calibration_bins)
    metrics["model"] = f"{precision} ONNX (tunekit compress)" if compressed else "the run's model"
    write_json(out_dir / "metrics.json", metrics)
    title = f"# Evaluation of {run_dir}" + (f" ({precision} ONNX model)" if compressed else "")
    write_text(out_dir / "report.md", f"{title}\n\n" +
               markdown_section(f"eval — {data_path}", metrics, metrics["plots"]))
    if console is not None:
        print_summary(metrics, f"eval: {data_path}", console)
    return metrics, out_dir


def evaluate_tagger_run(run_dir: Path, data_path: str, out_dir: Path | None = None, batch_size: int | None = None,
                        console: Console | None = None) -> tuple[dict[str, Any], Path]:
    """`evaluate_run` for a tagger: entity metrics, a predictions file and the type-confusion plot."""
    predictor = TagPredictor.from_run_dir(run_dir, batch_size=batch_size)
    data = load_tagged(data_path, predictor.config.data, predictor.config.tagging)
    if data.tags is None:
        raise DataError(f"{data_path} has no tags to evaluate against", "pass tagged data (CoNLL or JSONL with tags)")
    out_dir = out_dir or RunLayout(run_dir).evaluations / f"{Path(data_path).stem}-{datetime.now():%Y%m%d-%H%M%S}"
    metrics = evaluate_tagged_split(predictor, data, out_dir, "eval")
    write_json(out_dir / "metrics.json", metrics)
    write_text(out_dir / "report.md", f"# Evaluation of {run_dir}\n\n" +
               entity_markdown_section(f"eval — {data_path}", metrics))
    if console is not None:
        print_entity_summary(metrics, f"eval: {data_path}", console)
    return metrics, out_dir
