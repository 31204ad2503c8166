"""Training logs: one JSON object per line, mirrored to TensorBoard."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class TrainingLogger:
    """Append-only JSONL log (flushed per line, so a crash loses nothing) plus optional TensorBoard."""

    def __init__(self, jsonl_path: Path, tensorboard_dir: Path | None) -> None:
        self._file = open(jsonl_path, "a", encoding="utf-8")
        self._writer = None
        if tensorboard_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(tensorboard_dir))

    def log(self, kind: str, step: int, values: dict[str, Any]) -> None:
        record = {"time": round(time.time(), 3), "kind": kind, "step": step, **values}
        self._file.write(json.dumps(record, default=float) + "\n")
        self._file.flush()
        if self._writer is not None:
            for key, value in values.items():
                if isinstance(value, int | float):
                    self._writer.add_scalar(f"{kind}/{key}", value, step)

    def close(self) -> None:
        self._file.close()
        if self._writer is not None:
            self._writer.close()
