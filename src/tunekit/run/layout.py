"""Where everything lives in a run directory; the one place that knows the file names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunekit.errors import RunDirError

COMPRESSED_PRECISIONS = ("int8", "fp32")  # what `tunekit compress --precision` writes: compressed/model.<it>.onnx


def compressed_precision_of(path: Path) -> str:
    """``int8`` or ``fp32``: the precision a compressed model's file name (``model.<precision>.onnx``) gives."""
    return path.suffixes[0].lstrip(".")


def described_precision(report: dict) -> str:
    """The precision a compression.json describes; reports written before fp32 exports existed are int8."""
    return report.get("precision", "int8")


@dataclass(frozen=True)
class RunLayout:
    root: Path

    config = property(lambda self: self.root / "config.yaml")
    labels = property(lambda self: self.root / "labels.json")
    model = property(lambda self: self.root / "model")
    metrics = property(lambda self: self.root / "metrics.json")
    report = property(lambda self: self.root / "report.md")
    train_log = property(lambda self: self.root / "train_log.jsonl")
    tensorboard = property(lambda self: self.root / "tensorboard")
    environment = property(lambda self: self.root / "environment.json")
    status = property(lambda self: self.root / "status.json")
    checkpoints = property(lambda self: self.root / "checkpoints")
    best = property(lambda self: self.root / "checkpoints" / "best")
    evaluations = property(lambda self: self.root / "evaluations")
    compressed = property(lambda self: self.root / "compressed")
    compression_report = property(lambda self: self.root / "compressed" / "compression.json")

    def compressed_model_for(self, precision: str) -> Path:
        """Where `tunekit compress --precision PRECISION` writes its ONNX model."""
        return self.compressed / f"model.{precision}.onnx"

    @property
    def compressed_model(self) -> Path:
        """The run's compressed model, whichever precision it was written in (``compressed/`` is replaced whole,
        so it holds one); the int8 path when there is none yet."""
        candidates = [self.compressed_model_for(precision) for precision in COMPRESSED_PRECISIONS]
        return next((path for path in candidates if path.is_file()), candidates[0])

    @property
    def compressed_precision(self) -> str:
        """``int8`` or ``fp32``: the precision of `compressed_model`."""
        return compressed_precision_of(self.compressed_model)

    def require_finished(self) -> RunLayout:
        """Raise unless this is a completed run directory."""
        if not self.root.is_dir():
            raise RunDirError(f"run directory {self.root} does not exist", "pass the directory `tunekit train` wrote")
        for needed in (self.config, self.labels, self.model):
            if not needed.exists():
                raise RunDirError(f"{self.root} is not a finished run: {needed.name} is missing",
                                  f"finish it with `tunekit train --resume {self.root}`, or train again")
        return self
