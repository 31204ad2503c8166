"""Export a run's model as a plain transformers model directory."""

from __future__ import annotations

from pathlib import Path

from tunekit.atomic import read_json
from tunekit.config import load_config
from tunekit.data.labels import LabelMap
from tunekit.run.layout import RunLayout
from tunekit.run.model_io import export_merged, load_model, load_tokenizer


def export_run(run_dir: Path, target: Path) -> Path:
    """Merge adapters (if any) into the weights and write a directory `from_pretrained` loads (either task).

    Raises:
        TunekitError: the run's method cannot merge (prompt or prefix tuning, bottleneck adapters); it says why.
    """
    layout = RunLayout(run_dir).require_finished()
    config = load_config(layout.config)
    labels = read_json(layout.labels)
    label_map = LabelMap.from_json(labels)
    model = load_model(layout.model, config, label_map)
    return export_merged(model, config.method, load_tokenizer(layout.model), label_map, target,
                         labels.get("thresholds"))
