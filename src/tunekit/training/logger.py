"""Training logs: one JSON object per line, mirrored to TensorBoard."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tunekit.atomic import write_text


class TrainingLogger:
    """Append-only JSONL log (flushed per line, so a crash loses nothing) plus optional TensorBoard."""

    def __init__(self, jsonl_path: Path, tensorboard_dir: Path | None, resume_from_step: int | None = None) -> None:
        """Open the logs; when resuming, drop records after ``resume_from_step`` (they are about to be replayed)."""
        if resume_from_step is not None and jsonl_path.exists():
            kept = [line for line in jsonl_path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= resume_from_step]
            write_text(jsonl_path, "".join(line + "\n" for line in kept))
        self._file = open(jsonl_path, "a", encoding="utf-8")
        self._writer = None
        if tensorboard_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            purge = None if resume_from_step is None else resume_from_step + 1
            self._writer = SummaryWriter(log_dir=str(tensorboard_dir), purge_step=purge)

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
