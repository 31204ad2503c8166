"""Recipe: audit a finished run directory on held-out labeled data; write RUN_DIR/audit/ and the model card."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from tunekit.atomic import write_json, write_text
from tunekit.audit.html import model_card_section, render_html
from tunekit.audit.privacy import redact_pii
from tunekit.audit.suite import AuditInputs, audit_predictor
from tunekit.config import RunConfig, load_config
from tunekit.data.counterfactual import BUILTIN_LISTS, load_swap_table
from tunekit.data.examples import from_frame
from tunekit.data.labels import LabelMap
from tunekit.data.prepare import run_splits
from tunekit.data.readers import read_table
from tunekit.errors import DataError, TunekitError
from tunekit.inference.predictor import Predictor
from tunekit.run.layout import RunLayout
from tunekit.run.model_card import update_audit_section

log = logging.getLogger("tunekit")


def audit_run(run_dir: Path, data_path: str, *, overrides: list[str] | None = None, gate: bool = False,
              contrast: str | None = None, contrast_columns: tuple[str, str, str] = ("text", "label", "pair_id"),
              contrast_labels: dict[str, str] | None = None, redact_to: Path | None = None) -> dict:
    """Audit ``run_dir`` on ``data_path`` (labeled, same columns as training, held out from training).

    Writes ``RUN_DIR/audit/audit.json`` (the contract, `tunekit.audit.contract`), ``audit.html``,
    ``reliability.png`` and the audit section of ``MODEL_CARD.md``; with ``gate``, also ``RUN_DIR/audit/gate.json``.

    Args:
        run_dir: a finished run directory.
        data_path: labeled audit data.
        overrides: dotted ``audit.*`` options (thresholds, sample sizes), e.g. ``["audit.max_ece=0.05"]``.
        gate: record the verdict in ``audit/gate.json`` (the CLI then exits non-zero when it failed).
        contrast: a file of original/edited pairs for contrast-set accuracy.
        contrast_columns: its text, label and pair-id columns (rows sharing a pair id: original first).
        contrast_labels: maps the contrast file's labels to the model's (``{"Positive": "1"}``).
        redact_to: also write the training texts with PII redacted to this CSV.

    Returns:
        The report (also in audit.json).
    """
    layout = RunLayout(Path(run_dir)).require_finished()
    config = load_config(layout.config, [o for o in overrides or [] if o.startswith("audit.")])
    predictor = Predictor.from_run_dir(run_dir)
    if predictor.label_map.multi_label or config.data.text_pair_column:
        raise TunekitError("the audit supports single-label classifiers of single texts",
                           "audit a single-label run; multi-label and sentence-pair audits are not available yet")
    inputs = _audit_inputs(config, predictor.label_map, data_path)
    if contrast:
        inputs.contrast = _contrast_pairs(contrast, contrast_columns, contrast_labels or {}, predictor.label_map)
    out = layout.root / "audit"
    out.mkdir(parents=True, exist_ok=True)
    word_pairs = {source if source in BUILTIN_LISTS else Path(source).stem: load_swap_table(source)
                  for source in config.audit.word_pairs}
    report = audit_predictor(predictor.predict_proba, predictor.classes, inputs, config.audit, word_pairs,
                             calibration_bins=config.eval.calibration_bins, plot_dir=out)
    report.update(run_dir=str(run_dir), data=str(data_path), created=datetime.now(UTC).isoformat(timespec="seconds"),
                  model={"name": config.model.name, "method": config.method})
    if redact_to is not None and inputs.training_texts is not None:
        pd.DataFrame({"text": [redact_pii(t) for t in inputs.training_texts]}).to_csv(redact_to, index=False)
        report["privacy"]["pii"]["redacted_copy"] = str(redact_to)
    write_json(out / "audit.json", report)
    write_text(out / "audit.html", render_html(report))
    update_audit_section(layout.root, model_card_section(report))
    if gate:
        write_json(out / "gate.json", {**report["gate"], "created": report["created"], "data": str(data_path)})
    return report


def _audit_inputs(config: RunConfig, label_map: LabelMap, data_path: str) -> AuditInputs:
    data_config = config.data
    group_column = config.audit.group_column
    text_columns = tuple(c for c in (data_config.text_column,) if c)
    frame = read_table(data_path, encoding=data_config.encoding, tsv_quoting=data_config.tsv_quoting,
                       text_columns=text_columns)
    data = from_frame(frame, text_column=data_config.text_column, label_column=data_config.label_column,
                      text_pair_column=None, source=str(data_path))
    groups = None
    if group_column is not None:
        if group_column not in frame.columns:
            raise DataError(f"{data_path} has no group column `{group_column}`",
                            f"set `audit.group_column` to one of: {', '.join(map(str, frame.columns))}")
        groups = frame[group_column].astype(str).tolist()
    inputs = AuditInputs(texts=data.texts, targets=label_map.encode(data.labels, source=str(data_path)),
                         groups=groups, skip_reasons={})
    splits = run_splits(data_config)
    if splits is not None:
        inputs.members, inputs.training_texts = splits.train.texts, splits.train.texts
        inputs.member_targets = label_map.encode(splits.train.labels, source=splits.train.source)
        inputs.non_members = splits.validation.texts  # same distribution as the members, never trained on
        inputs.non_member_targets = label_map.encode(splits.validation.labels, source=splits.validation.source)
    else:
        reason = (f"the run's training data ({data_config.train}) is not on this machine" if data_config.train
                  else "the run was trained on in-memory data (Python API), so its members are unknown")
        inputs.skip_reasons.update({"privacy.membership_inference_auc": reason, "privacy.pii": reason})
    return inputs


def _contrast_pairs(path: str, columns: tuple[str, str, str], label_aliases: dict[str, str],
                    label_map: LabelMap) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    text_column, label_column, pair_column = columns
    frame = read_table(path, text_columns=(text_column,))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"contrast file {path} lacks column(s) {', '.join(missing)}",
                        f"name its text, label and pair-id columns with --contrast-columns (has: "
                        f"{', '.join(map(str, frame.columns))})")
    by_name = {str(c): c for c in label_map.classes}
    labels = [by_name.get(label_aliases.get(str(v), str(v)), v) for v in frame[label_column]]
    targets = label_map.encode(labels, source=path)
    originals, edited = [], []
    for _, rows in frame.assign(_target=targets).groupby(pair_column, sort=False):
        if len(rows) >= 2:
            originals.append((rows.iloc[0][text_column], rows.iloc[0]["_target"]))
            edited.append((rows.iloc[1][text_column], rows.iloc[1]["_target"]))
    if not originals:
        raise DataError(f"contrast file {path} has no pairs", f"rows sharing a `{pair_column}` form a pair")
    return ([t for t, _ in originals], np.array([y for _, y in originals]),
            [t for t, _ in edited], np.array([y for _, y in edited]))


def parse_label_aliases(text: str | None) -> dict[str, str]:
    """``"Negative=0,Positive=1"`` → ``{"Negative": "0", "Positive": "1"}``."""
    if not text:
        return {}
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise DataError(f"cannot read label mapping {text!r}", "write it as FILE_LABEL=MODEL_LABEL,…")
    return {a.strip(): b.strip() for a, b in pairs}
