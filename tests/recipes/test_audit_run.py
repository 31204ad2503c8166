"""Workflow: train a tiny run, then explain and audit it through the library and the CLI."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from tiny_fixtures import make_sentiment_rows
from tunekit.audit.contract import missing_contract_paths
from tunekit.cli import app
from tunekit.recipes.audit_run import audit_run
from tunekit.recipes.explain_texts import explain_run
from tunekit.recipes.train_classifier import train_classifier


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_model_dir):
    from tiny_fixtures import tiny_run_config

    root = tmp_path_factory.mktemp("audit-run")
    rows = make_sentiment_rows(200)
    for i, row in enumerate(rows):
        row["text"] = f"{row['text']} mail me at person{i}@example.com"  # planted PII in the training data
    pd.DataFrame(rows).to_csv(root / "train.csv", index=False)
    held_out = make_sentiment_rows(60, seed=7)
    for i, row in enumerate(held_out):
        row["text"] = ("he " if i % 2 else "she ") + row["text"]
        row["group"] = "a" if i % 3 else "b"
    pd.DataFrame(held_out).to_csv(root / "audit.csv", index=False)
    config = tiny_run_config(tiny_model_dir, data={"train": str(root / "train.csv")}, train={"epochs": 3})
    run_dir = train_classifier(config, root / "run")
    return run_dir, root / "audit.csv"


def test_a_finished_run_has_a_model_card(tiny_run):
    run_dir, _ = tiny_run
    card = (run_dir / "MODEL_CARD.md").read_text()
    for heading in ("## Intended use", "## Training data", "## Metrics", "## Limitations", "Not audited yet"):
        assert heading in card


def test_audit_writes_the_contract_report_and_the_card_section(tiny_run, tmp_path):
    run_dir, audit_csv = tiny_run
    report = audit_run(run_dir, str(audit_csv), overrides=["audit.group_column=group", "audit.max_ece=1.0"],
                       gate=True, redact_to=tmp_path / "redacted.csv")
    saved = json.loads((run_dir / "audit" / "audit.json").read_text())
    assert missing_contract_paths(saved) == [] and saved["gate"] == report["gate"]
    train_examples = json.loads((run_dir / "metrics.json").read_text())["training"]["train_examples"]
    assert saved["privacy"]["pii"]["by_kind"]["email"] == train_examples  # one planted address per text
    assert "@" not in (tmp_path / "redacted.csv").read_text()
    assert 0.0 <= saved["privacy"]["membership_inference_auc"] <= 1.0
    assert saved["privacy"]["membership_inference"]["non_member_source"] == "held-out split"
    assert saved["fairness"]["counterfactual"]["lists"]["gender"]["texts_with_swaps"] == 60
    assert set(saved["fairness"]["groups"]["groups"]) == {"a", "b"}
    assert "after" in saved["fairness"]["groups"]["threshold_optimizer"]
    assert (run_dir / "audit" / "audit.html").exists() and (run_dir / "audit" / "reliability.png").exists()
    assert (run_dir / "audit" / "gate.json").exists()
    assert "<!-- audit:start -->\nAudited on" in (run_dir / "MODEL_CARD.md").read_text()


def test_cli_gate_exits_non_zero_when_a_check_fails(tiny_run):
    run_dir, audit_csv = tiny_run
    runner = CliRunner()
    strict = runner.invoke(app, ["audit", str(run_dir), "--data", str(audit_csv), "--gate", "audit.max_ece=0.0",
                                 "audit.max_examples=30"])
    assert strict.exit_code == 1, strict.output
    assert json.loads((run_dir / "audit" / "audit.json").read_text())["gate"]["passed"] is False
    lenient = runner.invoke(app, ["audit", str(run_dir), "--data", str(audit_csv), "--gate", "audit.max_ece=1.0",
                                  "audit.max_flip_rate=1.0", "audit.max_accuracy_drop=1.0",
                                  "audit.max_membership_inference_auc=1.0", "audit.max_examples=30"])
    assert lenient.exit_code == 0, lenient.output
    assert json.loads((run_dir / "audit" / "gate.json").read_text())["passed"] is True


def test_explain_by_integrated_gradients_and_occlusion(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    results, files = explain_run(run_dir, ["the film was great", "awful plot"], out_dir=tmp_path)
    assert all(r["relative_delta"] <= 0.05 for r in results)
    assert {r["label"] for r in results} <= {"negative", "positive"}
    assert files["html"].exists() and files["png"].stat().st_size > 0
    result = CliRunner().invoke(app, ["explain", str(run_dir), "great film", "--method", "occlusion",
                                      "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "occlusion" in result.output


def test_counterfactual_augmentation_and_dp_sgd_through_the_recipe(tmp_path, tiny_config, sentiment_csv):
    from tunekit.atomic import read_json

    config = tiny_config(data={"train": str(sentiment_csv), "counterfactual_augmentation": "gender"},
                         method="lora", privacy={"dp_sgd": True, "target_epsilon": 8.0}, train={"max_steps": 3})
    run_dir = train_classifier(config, tmp_path / "dp")
    privacy = read_json(run_dir / "privacy.json")
    assert privacy["epsilon"] <= 8.0 and privacy["steps"] == 3
    assert "DP-SGD, (ε = " in (run_dir / "MODEL_CARD.md").read_text()
