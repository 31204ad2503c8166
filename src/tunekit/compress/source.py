"""Which weights a compressed model was made from: a fingerprint of the run's model files and labels, kept in
compression.json, so a run retrained after `tunekit compress` is not served from its old ONNX model."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tunekit.atomic import read_json
from tunekit.errors import RunDirError
from tunekit.run.layout import RunLayout, described_precision

CHUNK = 1 << 20


def source_fingerprint(layout: RunLayout) -> str:
    """SHA-256 over the run's weight files (``model/*.safetensors``, names included) and ``labels.json``."""
    digest = hashlib.sha256()
    for path in [*sorted(layout.model.glob("*.safetensors")), layout.labels]:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as file:
            while block := file.read(CHUNK):
                digest.update(block)
    return digest.hexdigest()


def tagger_not_compressed(run_dir: Path, fix: str) -> RunDirError:
    """The error for asking a tagger run for its compressed model (only classifiers are compressed)."""
    return RunDirError(f"{run_dir} is a tagger, and only classifiers are compressed", fix)


def check_compressed_source(layout: RunLayout) -> None:
    """Raise unless the run's compressed model is the one its compression.json describes, made from the weights
    its ``model/`` holds now.

    Raises:
        RunDirError: compression.json is missing or unreadable, describes a model of another precision, or the run
            was retrained after `tunekit compress`.
    """
    fix = f"run `tunekit compress {layout.root}` again"
    try:
        report = read_json(layout.compression_report)
        recorded = report["source_fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        raise RunDirError(f"{layout.compression_report} is missing or unreadable, so the compressed model cannot "
                          "be matched to the run's weights", fix) from None
    described = described_precision(report)
    if described != layout.compressed_precision:
        raise RunDirError(f"{layout.compressed} holds {layout.compressed_model.name}, but its compression.json "
                          f"describes a {described} model (files copied in by hand?)", fix)
    if recorded != source_fingerprint(layout):
        raise RunDirError(f"{layout.compressed_model} was made from other weights than {layout.model} holds now "
                          "(the run was retrained or its labels changed after `tunekit compress`)", fix)
