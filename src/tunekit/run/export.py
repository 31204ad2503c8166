"""Export a run's model as a plain transformers model directory."""

from __future__ import annotations

from pathlib import Path

from tunekit.inference.predictor import Predictor
from tunekit.run.model_io import export_merged


def export_run(run_dir: Path, target: Path) -> Path:
    """Merge adapters (if any) into the weights and write a directory `from_pretrained` loads.

    Raises:
        TunekitError: the run's method cannot merge (prompt or prefix tuning, bottleneck adapters); it says why.
    """
    predictor = Predictor.from_run_dir(run_dir)
    thresholds = predictor.thresholds.tolist() if predictor.label_map.multi_label else None
    return export_merged(predictor.model, predictor.config.method, predictor.tokenizer, predictor.label_map, target,
                         thresholds)
