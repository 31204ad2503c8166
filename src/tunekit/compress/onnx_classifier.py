"""`OnnxClassifier`: an ONNX Runtime session behind the call a transformers sequence classifier answers.

``classifier(input_ids=..., attention_mask=...)`` returns an output with ``.logits``, so `Predictor`'s length-sorted
batches (`tunekit.inference.batch.example_probabilities`) run a compressed run unchanged; given several batches in
one call (`logits_per_batch`) it runs one per core. It has no parameters and no gradients: integrated gradients keep
the run's torch model (`Predictor.model`); occlusion, which only asks for probabilities, explains the ONNX model
itself.
"""

from __future__ import annotations

import collections
import itertools
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from tunekit.errors import RunDirError
from tunekit.run.layout import compressed_precision_of

if TYPE_CHECKING:
    from onnxruntime import InferenceSession


class OnnxClassifier(nn.Module):
    """Runs ``path`` (written by `tunekit.compress.onnx_int8`'s `export_int8` or `export_fp32`) on the CPU with
    ``threads`` threads (default: torch's intra-op thread count, which tunekit sets to the physical cores). Idle
    threads spin for the next call, as OpenMP's do, unless ``OMP_WAIT_POLICY=PASSIVE`` (`tunekit serve` sets it).
    ``batches_at_once`` (default ``threads``): how many batches `logits_per_batch` runs at once, one per core;
    1 runs them one after another on every core.

    Raises:
        RunDirError: ``path`` is missing, truncated or not an ONNX model.
    """

    def __init__(self, path: Path, threads: int | None = None, batches_at_once: int | None = None) -> None:
        super().__init__()
        path = Path(path)
        if not path.is_file():
            raise RunDirError(f"{path} does not exist: the run has no compressed model",
                              f"run `tunekit compress {path.parent.parent}` first")
        self.path, self.threads = path, threads or torch.get_num_threads()
        self.batches_at_once = batches_at_once or self.threads
        model = path.read_bytes()  # read once: both sessions are the same model even if the file is replaced later
        self.session = _session(model, path, self.threads)
        # opened now, not at first use: a long-running server must not meet a file changed since it started
        self._one_core = _session(model, path, 1) if self.batches_at_once > 1 else None
        self.input_names = [i.name for i in self.session.get_inputs()]

    @property
    def precision(self) -> str:
        """``int8`` or ``fp32``: the precision of the model file this classifier runs."""
        return compressed_precision_of(self.path)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, **_: object) -> SequenceClassifierOutput:
        """Logits ``(batch, labels)`` for ``(batch, length)`` token ids; a missing mask means every position is
        real, missing token types mean segment 0 (as transformers' models assume)."""
        return SequenceClassifierOutput(logits=self._logits(self.session, input_ids, attention_mask, token_type_ids))

    def logits_per_batch(self, batches: Iterable[dict[str, torch.Tensor]]) -> Iterator[torch.Tensor]:
        """Each batch's logits, in order. When there are at least `batches_at_once` batches, that many run at once,
        each on one core of a single-threaded session: ONNX Runtime runs without the GIL, and a core per batch
        saves the hand-offs between threads that every operator of a multi-threaded run pays (x1.09 at batch 64 and
        x1.55 at batch 1 on SST-2, docs/compress.md). Fewer batches run one after another on every core
        (`forward`), so no core sits idle."""
        batches = iter(batches)
        first = list(itertools.islice(batches, self.batches_at_once))
        if self._one_core is None or len(first) < self.batches_at_once:
            yield from (self(**batch).logits for batch in itertools.chain(first, batches))
            return
        in_flight: collections.deque[Future[torch.Tensor]] = collections.deque()
        pool = ThreadPoolExecutor(self.batches_at_once, thread_name_prefix="tunekit-onnx")
        try:
            for batch in itertools.chain(first, batches):
                in_flight.append(pool.submit(self._logits, self._one_core, **batch))
                if len(in_flight) > 2 * self.batches_at_once:  # collated batches wait in memory: keep a few
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()
        finally:  # a caller that stops early (an error, Ctrl-C) does not wait for the batches still queued
            pool.shutdown(wait=True, cancel_futures=True)

    def _logits(self, session: InferenceSession, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, **_: object) -> torch.Tensor:
        attention_mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        token_type_ids = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        # trailing columns that are padding in every row (`collate` rounds lengths up to a multiple of 8 for torch's
        # matmuls) are dropped: the graph runs on any length, and padded positions change no real token's output
        real_columns = np.flatnonzero(attention_mask.cpu().numpy().any(axis=0))  # numpy: no torch threads per worker
        columns = int(real_columns[-1]) + 1 if real_columns.size else 1
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        feeds = {name: np.ascontiguousarray(given[name][:, :columns].cpu().numpy(), dtype=np.int64)
                 for name in self.input_names}
        (logits,) = session.run(["logits"], feeds)
        return torch.from_numpy(logits)


def _session(model: bytes, path: Path, threads: int) -> InferenceSession:
    """An ONNX Runtime CPU session of ``model`` (read from ``path``) on ``threads`` threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1  # one graph node at a time: the intra-op threads already use every core
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: its warnings (e.g. on saved optimised graphs) are not the user's
    if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":  # `tunekit serve`: idle threads sleep
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime reports a bad file as InvalidProtobuf, Fail or InvalidGraph
        raise RunDirError(f"{path} could not be loaded ({type(exc).__name__}: {str(exc)[:200]})",
                          f"the file is corrupted or incomplete; run `tunekit compress {path.parent.parent}` "
                          "again") from None
