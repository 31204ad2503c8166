"""Recipe: explain a run's predictions on texts, by integrated gradients (torch model) or occlusion (any model)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from tunekit.errors import TunekitError
from tunekit.explain.integrated_gradients import integrated_gradients
from tunekit.explain.occlusion import explain_with_predictor
from tunekit.explain.render import write_outputs
from tunekit.inference.predictor import Predictor

Method = Literal["integrated_gradients", "occlusion"]


def explain_predictor(predictor: Predictor, texts: list[str], method: Method = "integrated_gradients") -> list[dict]:
    """Attributions for ``texts``, one JSON-ready dict each (tokens, attributions, label, method, …)."""
    if method == "occlusion":
        return explain_with_predictor(predictor, texts)
    if predictor.label_map.multi_label:
        raise TunekitError("integrated gradients explain single-label classifiers", "use --method occlusion")
    results = []
    for text in texts:
        result = integrated_gradients(predictor.model, predictor.tokenizer, text,
                                      max_seq_len=predictor.config.data.max_seq_len)
        label = predictor.classes[result["target"]]
        results.append({**result, "label": label.item() if hasattr(label, "item") else label})
    return results


def explain_run(run_dir: Path, texts: list[str], method: Method = "integrated_gradients",
                out_dir: Path | None = None) -> tuple[list[dict], dict[str, Path]]:
    """Explain ``texts`` with the model in ``run_dir``; writes explanations.html/.png (default RUN_DIR/explain)."""
    if not texts:
        raise TunekitError("no texts to explain", 'pass texts: tunekit explain RUN_DIR "some text", or --file')
    results = explain_predictor(Predictor.from_run_dir(run_dir), texts, method)
    return results, write_outputs(results, out_dir or Path(run_dir) / "explain")
