"""`export_run` for every task: a token-classification run exports to a plain AutoModelForTokenClassification."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from transformers import AutoModelForTokenClassification, AutoTokenizer

from tiny_fixtures import tiny_run_config
from tunekit.config import config_to_dict
from tunekit.data.labels import LabelMap
from tunekit.errors import TunekitError
from tunekit.run.export import export_run
from tunekit.run.model_io import build_model, save_model

TAGS = LabelMap(("B-PER", "I-PER", "O"))


def _token_run(tiny_model_dir, root, method: str):
    """A finished run directory as the tagger recipe leaves it, with a perturbed (so, trained-looking) adapter."""
    config = tiny_run_config(tiny_model_dir, task="token_classification", method=method)
    model, _ = build_model(config, TAGS)
    with torch.no_grad():
        for parameter in (p for p in model.parameters() if p.requires_grad):
            parameter.add_(0.05 * torch.randn_like(parameter))
    root.mkdir()
    save_model(model.eval(), AutoTokenizer.from_pretrained(tiny_model_dir), root / "model", method)
    (root / "config.yaml").write_text(yaml.safe_dump(config_to_dict(config)))
    (root / "labels.json").write_text(json.dumps(TAGS.to_json()))
    (root / "status.json").write_text('{"status": "completed"}')
    return model


@pytest.mark.parametrize("method", ["lora", "ia3", "bitfit"])
def test_token_classification_run_exports_merged(method, tiny_model_dir, tmp_path):
    model = _token_run(tiny_model_dir, tmp_path / "run", method)
    target = export_run(tmp_path / "run", tmp_path / "export")
    exported = AutoModelForTokenClassification.from_pretrained(target).eval()
    batch = AutoTokenizer.from_pretrained(target)(["the film was great", "bad"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(exported(**batch).logits, model(**batch).logits, rtol=0, atol=1e-5)
    assert exported.config.id2label == {0: "B-PER", 1: "I-PER", 2: "O"}


def test_export_of_an_unmergeable_run_says_why(tiny_model_dir, tmp_path):
    _token_run(tiny_model_dir, tmp_path / "run", "houlsby")
    with pytest.raises(TunekitError, match="cannot be merged"):
        export_run(tmp_path / "run", tmp_path / "export")
    assert not (tmp_path / "export").exists()
