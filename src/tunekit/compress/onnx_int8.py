"""A sequence classifier as an ONNX graph with int8 weights: ``export_int8(model, target)`` (``export_fp32`` is its
first step).

The model (adapters merged) is exported with torch's TorchScript-based ONNX exporter, batch and sequence length
dynamic (a BERT classifier with its last layer for the first token only, `first_token`), then every matmul weight
is quantised to int8 per output channel by ONNX Runtime's dynamic quantisation: activations are quantised per
matmul call at run time, so no calibration data is needed. Weights are limited to -64..64 (about 7 bits; ONNX
Runtime's ``reduce_range``): CPUs without VNNI (AVX2, AVX-512 before Cascade Lake) multiply unsigned 8-bit
activations by signed 8-bit weights with an instruction that adds each pair of products into a saturating 16-bit
sum, and 2 × 255 × 127 overflows it where 2 × 255 × 64 does not. With full-range per-channel weights an SST-2
MPNet classifier answered one class for every text on such a CPU (accuracy 0.5007 against 0.9150,
docs/compress.md); a model file can move to another machine, so every export takes the range every CPU computes exactly.

On a CPU without native bf16, tunekit classified SST-2 1.6× faster at batch 64 with it than with the fp32 model,
from a weights file a quarter the size (docs/compress.md). The result can differ from the fp32 model on texts near
the decision boundary, which is why `tunekit.recipes.compress_run` checks it against the run's own model before
keeping it.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from tunekit.compress.first_token import FirstTokenBertClassifier, first_token_applies
from tunekit.errors import TunekitError

OPSET = 17  # the newest opset the TorchScript exporter targets fully; LayerNormalization is native from 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class _LogitsOnly(nn.Module):
    """The classifier's forward with positional inputs and the logits tensor as its one output, as ONNX needs."""

    def __init__(self, model: nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs, strict=True)), return_dict=True).logits


def model_inputs(model: nn.Module) -> tuple[str, ...]:
    """The inputs of `INPUTS` that ``model``'s forward takes (MPNet has no token types)."""
    parameters = inspect.signature(model.forward).parameters
    return tuple(name for name in INPUTS if name in parameters)


def export_int8(model: nn.Module, target: Path) -> Path:
    """Write ``model`` (a plain transformers sequence classifier, adapters merged, on the CPU) to ``target`` as an
    ONNX graph with int8 weights; returns ``target``.

    Raises:
        TunekitError: the model cannot be exported or quantised (an architecture the exporter does not trace).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="tunekit-onnx-") as scratch:
        fp32 = export_fp32(model, Path(scratch) / "model.fp32.onnx")
        try:
            with _quiet():
                quantize_dynamic(fp32, target, weight_type=QuantType.QInt8, per_channel=True,
                                 reduce_range=True)  # weights in -64..64: see the module docstring
        except Exception as exc:  # the quantiser fails in many library-specific ways
            raise _unsupported(model, exc) from None
    return target


def export_fp32(model: nn.Module, target: Path) -> Path:
    """Write ``model`` to ``target`` as an fp32 ONNX graph: inputs `model_inputs`, output ``logits``, batch and
    sequence length dynamic; returns ``target``.

    Raises:
        TunekitError: the exporter cannot trace the model.
    """
    names = model_inputs(model)
    model = model.float().eval()
    # two rows, the second padded: a mask of all ones could let the attention code trace a maskless branch
    example = {"input_ids": torch.full((2, 8), 1, dtype=torch.long),
               "attention_mask": torch.tensor([[1] * 8, [1] * 5 + [0] * 3]),
               "token_type_ids": torch.zeros(2, 8, dtype=torch.long)}
    try:
        with torch.inference_mode(False), torch.no_grad(), _quiet():
            # the wrapper in eval mode: the exporter restores the wrapper's mode onto every submodule afterwards
            graph = FirstTokenBertClassifier(model) if first_token_applies(model) else _LogitsOnly(model, names)
            torch.onnx.export(graph.eval(), tuple(example[n] for n in names), target,
                              input_names=list(names), output_names=["logits"], opset_version=OPSET,
                              dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names},
                                            "logits": {0: "batch"}}, dynamo=False)
    except Exception as exc:  # the exporter fails in many library-specific ways
        raise _unsupported(model, exc) from None
    return target


def _unsupported(model: nn.Module, exc: Exception) -> TunekitError:
    return TunekitError(f"{type(model).__name__} could not be exported to int8 ONNX ({type(exc).__name__}: "
                        f"{str(exc)[:300]})", "use the run uncompressed (tunekit predict / serve read the run "
                        "directory), or train a BERT-family model (minilm-l6, mpnet-base)")


@contextlib.contextmanager
def _quiet():
    """Silence the exporter's tracer warnings and the quantiser's advice logs: neither is the user's to act on."""
    loggers = [logging.getLogger(name) for name in ("root", "onnxruntime", "torch.onnx")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
