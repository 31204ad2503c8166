"""`OnnxClassifier`: an ONNX Runtime session behind the call a transformers sequence classifier answers.

``classifier(input_ids=..., attention_mask=...)`` returns an output with ``.logits``, so `Predictor`'s length-sorted
batches (`tunekit.inference.batch.example_probabilities`) run a compressed run unchanged; given several batches in
one call (`logits_per_batch`) it runs one per core. It has no parameters and no gradients: integrated gradients keep
the run's torch model (`Predictor.model`); occlusion, which only asks for probabilities, explains the int8 model
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

if TYPE_CHECKING:
    from onnxruntime import InferenceSession


class OnnxClassifier(nn.Module):
    """Runs ``path`` (written by `tunekit.compress.onnx_int8.export_int8`) on the CPU with ``threads`` threads
    (default: torch's intra-op thread count, which tunekit sets to the physical cores). Idle threads spin for the
    next call, as OpenMP's do, unless ``OMP_WAIT_POLICY=PASSIVE`` (`tunekit serve` sets it).

    Raises:
        RunDirError: ``path`` is missing, truncated or not an ONNX model.
    """

    def __init__(self, path: Path, threads: int | None = None) -> None:
        super().__init__()
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise RunDirError(f"{path} does not exist: the run has no compressed model",
                              f"run `tunekit compress {path.parent.parent}` first")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1  # one graph node at a time: the intra-op threads already use every core
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: its warnings (e.g. on saved optimised graphs) are not the user's
        if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":  # `tunekit serve`: idle threads sleep
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime reports a bad file as InvalidProtobuf, Fail or InvalidGraph
            raise RunDirError(f"{path} could not be loaded ({type(exc).__name__}: {str(exc)[:200]})",
                              f"the file is corrupted or incomplete; run `tunekit compress {path.parent.parent}` "
                              "again") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.path, self.threads = path, options.intra_op_num_threads
        self.batches_at_once = self.threads  # `logits_per_batch`'s concurrency; 1 runs batches one after another
        self._one_core: InferenceSession | None = None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, **_: object) -> SequenceClassifierOutput:
        """Logits ``(batch, labels)`` for ``(batch, length)`` token ids; a missing mask means every position is
        real, missing token types mean segment 0 (as transformers' models assume)."""
        return SequenceClassifierOutput(logits=self._logits(self.session, input_ids, attention_mask, token_type_ids))

    def logits_per_batch(self, batches: Iterable[dict[str, torch.Tensor]]) -> Iterator[torch.Tensor]:
        """Each batch's logits, in order. Several batches run at once (`batches_at_once`), each on one core of a
        single-threaded session: ONNX Runtime runs without the GIL, and a core per batch saves the hand-offs
        between threads that every operator of a two-thread run pays (x1.09 at batch 64 and x1.55 at batch 1 on
        SST-2, docs/compress.md). A lone batch keeps every core (`forward`)."""
        batches = iter(batches)
        first = list(itertools.islice(batches, 2))
        if self.batches_at_once < 2 or len(first) < 2:
            yield from (self(**batch).logits for batch in itertools.chain(first, batches))
            return
        session = self._one_core_session()
        in_flight: collections.deque[Future[torch.Tensor]] = collections.deque()
        with ThreadPoolExecutor(self.batches_at_once, thread_name_prefix="tunekit-onnx") as pool:
            for batch in itertools.chain(first, batches):
                in_flight.append(pool.submit(self._logits, session, **batch))
                if len(in_flight) > 2 * self.batches_at_once:  # collated batches wait in memory: keep a few
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()

    def _one_core_session(self) -> InferenceSession:
        if self._one_core is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            self._one_core = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        return self._one_core

    def _logits(self, session: InferenceSession, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, **_: object) -> torch.Tensor:
        attention_mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        token_type_ids = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        # trailing columns that are padding in every row (`collate` rounds lengths up to a multiple of 8 for torch's
        # matmuls) are dropped: the graph runs on any length, and padded positions change no real token's output
        columns = int(torch.nonzero(attention_mask.any(dim=0)).max()) + 1 if attention_mask.any() else 1
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        feeds = {name: np.ascontiguousarray(given[name][:, :columns].cpu().numpy(), dtype=np.int64)
                 for name in self.input_names}
        (logits,) = session.run(["logits"], feeds)
        return torch.from_numpy(logits)
