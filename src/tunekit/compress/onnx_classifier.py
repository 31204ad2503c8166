"""`OnnxClassifier`: an ONNX Runtime session behind the call a transformers sequence classifier answers.

``classifier(input_ids=..., attention_mask=...)`` returns an output with ``.logits``, so `Predictor`'s length-sorted
batches (`tunekit.inference.batch.example_probabilities`) run a compressed run unchanged. It has no parameters and
no gradients: integrated gradients keep the run's torch model (`Predictor.model`); occlusion, which only asks for
probabilities, explains the int8 model itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from tunekit.errors import RunDirError


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
        self.path = path

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, **_: object) -> SequenceClassifierOutput:
        """Logits ``(batch, labels)`` for ``(batch, length)`` token ids; a missing mask means every position is
        real, missing token types mean segment 0 (as transformers' models assume)."""
        attention_mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        token_type_ids = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        # trailing columns that are padding in every row (`collate` rounds lengths up to a multiple of 8 for torch's
        # matmuls) are dropped: the graph runs on any length, and padded positions change no real token's output
        columns = int(torch.nonzero(attention_mask.any(dim=0)).max()) + 1 if attention_mask.any() else 1
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        feeds = {name: np.ascontiguousarray(given[name][:, :columns].cpu().numpy(), dtype=np.int64)
                 for name in self.input_names}
        (logits,) = self.session.run(["logits"], feeds)
        return SequenceClassifierOutput(logits=torch.from_numpy(logits))
