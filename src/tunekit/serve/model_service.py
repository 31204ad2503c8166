"""The served model: a run directory loaded once, answering plain-Python predictions for the routes.

It dispatches on the run's ``task``: a classification run answers labels and probabilities through `Predictor`;
a token-classification run answers entities with character offsets through `TagPredictor`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunekit.atomic import read_json
from tunekit.compress.source import tagger_not_compressed
from tunekit.config import load_config
from tunekit.errors import RunDirError, TunekitError
from tunekit.run.layout import RunLayout, described_precision

log = logging.getLogger(__name__)
MODEL_CARD = "MODEL_CARD.md"
AUDIT_FILE = Path("audit") / "audit.json"


@dataclass(frozen=True)
class AuditVerdict:
    """What the run's audit says: ``status`` is ``passed``, ``failed`` or ``not audited``."""

    status: str
    details: dict[str, Any] | None = None


def read_audit_verdict(run_dir: Path) -> AuditVerdict:
    """The audit gate of ``RUN_DIR/audit/audit.json`` (written by `tunekit audit`)."""
    path = run_dir / AUDIT_FILE
    if not path.is_file():
        return AuditVerdict("not audited")
    try:
        gate = read_json(path)["gate"]
        passed = gate["passed"]
    except (ValueError, KeyError, TypeError):
        raise RunDirError(f"{path} is not a readable audit result", "run the audit again") from None
    return AuditVerdict("passed" if passed is True else "failed", gate)


def check_audit_gate(run_dir: Path, allow_failed_audit: bool) -> AuditVerdict:
    """Refuse a run whose audit failed (unless allowed); warn about a run never audited.

    Raises:
        TunekitError: the audit failed and ``allow_failed_audit`` is False.
    """
    verdict = read_audit_verdict(run_dir)
    if verdict.status == "failed" and not allow_failed_audit:
        raise TunekitError(f"the audit of {run_dir} failed; refusing to serve it",
                           f"read {run_dir / AUDIT_FILE}, fix the model, or pass --allow-failed-audit to serve anyway")
    if verdict.status == "failed":
        log.warning("serving %s although its audit failed (--allow-failed-audit)", run_dir)
    elif verdict.status == "not audited":
        log.warning("%s has never been audited; serving it anyway", run_dir)
    return verdict


def check_compressed_servable(run_dir: Path) -> None:
    """Raise unless ``run_dir`` is a classifier with a compressed model (the serving config's ``compressed``).
    Whether that model was made from the run's current weights is `check_compressed_source`, which loading it
    (`Predictor.from_run_dir`) runs.

    Raises:
        RunDirError: the run is a tagger (never compressed) or has no compressed model yet.
    """
    layout = RunLayout(run_dir)
    if load_config(layout.config).task == "token_classification":
        raise tagger_not_compressed(run_dir, "set `compressed: false` in the serving config")
    if not layout.compressed_model.is_file():
        raise RunDirError(f"the serving config asks for the compressed model, and {run_dir} has none",
                          f"run `tunekit compress {run_dir}` first, or set `compressed: false`")


@dataclass
class ModelService:
    """A loaded run: ``predict(texts)`` gives one JSON-ready dict per text, in input order."""

    run_dir: Path
    task: str
    model: Any  # a `Predictor`, or a `TagPredictor` for token classification
    audit: AuditVerdict
    metrics: dict[str, Any] = field(default_factory=dict)
    compression: dict[str, Any] | None = None  # compression.json when the compressed model answers

    @classmethod
    def load(cls, run_dir: str | Path, *, model_batch_size: int | None = None,
             allow_failed_audit: bool = False, compressed: bool = False) -> ModelService:
        """Check the audit gate, then load the run's model for its task (``compressed``: a classifier's ONNX model,
        `tunekit compress`).

        Raises:
            TunekitError: the run is unfinished or unreadable, its audit failed, or ``compressed`` and the run is a
                tagger or has no readable compressed model.
        """
        run_dir = Path(run_dir)
        layout = RunLayout(run_dir).require_finished()
        audit = check_audit_gate(run_dir, allow_failed_audit)
        task = load_config(layout.config).task
        if task == "token_classification":
            from tunekit.inference.tagger import TagPredictor as model_class
        else:
            from tunekit.inference.predictor import Predictor as model_class
        if compressed:
            check_compressed_servable(run_dir)
            model = model_class.from_run_dir(run_dir, batch_size=model_batch_size, compressed=True)
        else:
            model = model_class.from_run_dir(run_dir, batch_size=model_batch_size)
        metrics = read_json(layout.metrics) if layout.metrics.is_file() else {}
        compression = None
        if compressed:  # reports written before fp32 exports existed do not name their precision
            report = read_json(layout.compression_report)
            compression = {"precision": described_precision(report)} | report
        return cls(run_dir, task, model, audit, metrics, compression)

    @property
    def labels(self) -> list[Any]:
        """The label set: classes of a classifier, entity types of a tagger."""
        if self.task == "token_classification":  # IOB2 tags B-PER, I-PER, O → entity type PER
            return sorted({str(tag)[2:] for tag in self.model.classes if str(tag)[:2] in ("B-", "I-")})
        return [_plain(c) for c in self.model.classes]

    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        """Labels and probabilities (classification) or entities (token classification) per text."""
        if self.task == "token_classification":
            return [{"entities": entities} for entities in self.model.extract(texts)]
        probabilities = self.model.predict_proba(texts)
        labels = self.model.labels_from_probabilities(probabilities)
        names = [str(c) for c in self.model.classes]
        rows = probabilities.astype(np.float64).round(6).tolist()  # float64 first: no float32 noise in JSON
        return [{"label": _plain(label), "probabilities": dict(zip(names, row, strict=True))}
                for label, row in zip(labels, rows, strict=True)]

    def explain(self, texts: list[str]) -> list[dict[str, Any]]:
        """Per-word attributions for the predicted label of each text (classification runs).

        Raises:
            TunekitError: the run is a tagger, which has no text-level label to explain.
        """
        if self.task == "token_classification":
            raise TunekitError("explanations are available for classification runs only", None)
        from tunekit.explain import explain_with_predictor

        return explain_with_predictor(self.model, texts)

    def model_card(self) -> str | None:
        path = self.run_dir / MODEL_CARD
        return path.read_text(encoding="utf-8") if path.is_file() else None


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones, so labels serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value
