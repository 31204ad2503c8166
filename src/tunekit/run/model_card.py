"""MODEL_CARD.md (Mitchell et al. 2019, arXiv:1810.03993): written when a run completes, its audit section
replaced by every `tunekit audit`."""

from __future__ import annotations

import re
from pathlib import Path

from tunekit.atomic import read_json, write_text
from tunekit.config import RunConfig, load_config

AUDIT_START, AUDIT_END = "<!-- audit:start -->", "<!-- audit:end -->"
NOT_AUDITED = "Not audited yet: run `tunekit audit RUN_DIR --data HELD_OUT_FILE`.\n"


def model_card_path(run_dir: Path) -> Path:
    return Path(run_dir) / "MODEL_CARD.md"


def _metrics_lines(metrics: dict, task: str) -> list[str]:
    if task == "token_classification":
        lines = ["| split | sentences | entity micro-F1 | entity macro-F1 | token accuracy |", "|---|---|---|---|---|"]
        return lines + [f"| {split} | {m['sentences']} | {m['micro_f1']:.4f} | {m['macro_f1']:.4f} | "
                        f"{m['token_accuracy']:.4f} |"
                        for split, m in metrics.items() if split in ("validation", "test")]
    lines = ["| split | examples | accuracy | macro-F1 | ECE |", "|---|---|---|---|---|"]
    for split in ("validation", "test"):
        if split in metrics:
            m = metrics[split]
            lines.append(f"| {split} | {m['examples']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['ece']:.4f} |")
    return lines


def render_model_card(config: RunConfig, classes: list, metrics: dict, privacy: dict | None = None) -> str:
    """The card's text from the run's config, classes, metrics.json content and DP-SGD guarantee (if any)."""
    training = metrics.get("training", {})
    data = config.data
    lines = [
        f"# Model card: {config.model.name} fine-tuned ({config.method})", "",
        "## Intended use", "",
        f"{_what_it_does(config, classes)}. Use it on text like its "
        "training data (same language, domain and length); it is not validated for other uses or for decisions "
        "about people without human review.", "",
        "## Training data", "",
        f"- training file: `{data.train or 'in-memory data (Python API)'}`; validation: "
        f"`{data.validation or f'{data.validation_size:.0%} held out'}`; test: `{data.test or 'held out / none'}`",
        f"- {training.get('train_examples', '?')} training examples, max {data.max_seq_len} tokens per text",
        f"- counterfactual augmentation: {data.counterfactual_augmentation or 'off'}", "",
        "## Training", "",
        f"- base model `{config.model.name}`, method `{config.method}`, {training.get('steps', '?')} optimiser steps,"
        f" learning rate {config.train.learning_rate}, seed {config.train.seed}",
        f"- differential privacy: {_privacy_line(privacy)}", "",
        "## Metrics", "", *_metrics_lines(metrics, config.task), "",
        "## Limitations", "",
        "- Metrics hold for data like the evaluation sets above; accuracy drops on other domains and on noisy text "
        "(see the audit's robustness figures).",
        "- Fine-tuned models inherit biases of the base model and of the training labels; check the audit's "
        "fairness section for the groups that matter to your use.",
        "- Probabilities are calibrated only as far as the ECE above says." + (
            "" if privacy else " Training examples may be memorised: no differential-privacy guarantee."), "",
        "## Audit", "", AUDIT_START, NOT_AUDITED.rstrip("\n"), AUDIT_END, ""]
    return "\n".join(lines)


def _what_it_does(config: RunConfig, classes: list) -> str:
    if config.task == "token_classification":
        types = sorted({str(c)[2:] for c in classes if str(c) != "O"})
        return f"Tags named entities of {len(types)} types ({', '.join(types)}) word by word (IOB2)"
    return (f"Classifies {'pairs of texts' if config.data.text_pair_column else 'texts'} into {len(classes)} classes: "
            f"{', '.join(str(c) for c in classes[:20])}{' …' if len(classes) > 20 else ''}")


def _privacy_line(privacy: dict | None) -> str:
    if not privacy:
        return "none"
    return (f"DP-SGD, (ε = {privacy['epsilon']:.2f}, δ = {privacy['delta']:.2e}), per-sample clipping norm "
            f"{privacy['max_per_sample_grad_norm']}, noise multiplier {privacy['noise_multiplier']:.3f}")


def write_model_card(run_dir: Path) -> Path:
    """Write MODEL_CARD.md for a completed run directory (keeping an existing audit section)."""
    run_dir = Path(run_dir)
    config = load_config(run_dir / "config.yaml")
    classes = read_json(run_dir / "labels.json")["classes"]
    metrics = read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").exists() else {}
    privacy = read_json(run_dir / "privacy.json") if (run_dir / "privacy.json").exists() else None
    text = render_model_card(config, classes, metrics, privacy)
    path = model_card_path(run_dir)
    if path.exists():
        old = _audit_block(path.read_text(encoding="utf-8"))
        if old is not None:
            text = _replace_audit_block(text, old)
    write_text(path, text)
    return path


def _audit_block(text: str) -> str | None:
    match = re.search(re.escape(AUDIT_START) + r"\n(.*?)" + re.escape(AUDIT_END), text, flags=re.S)
    return match.group(1) if match else None


def _replace_audit_block(text: str, body: str) -> str:
    pattern = re.escape(AUDIT_START) + r"\n.*?" + re.escape(AUDIT_END)
    return re.sub(pattern, lambda _: f"{AUDIT_START}\n{body.rstrip(chr(10))}\n{AUDIT_END}", text, flags=re.S)


def update_audit_section(run_dir: Path, section: str) -> Path:
    """Replace the card's audit section with ``section`` (writing the card first if the run has none)."""
    path = model_card_path(run_dir)
    if not path.exists() or _audit_block(path.read_text(encoding="utf-8")) is None:
        write_model_card(run_dir)
    write_text(path, _replace_audit_block(path.read_text(encoding="utf-8"), section))
    return path
