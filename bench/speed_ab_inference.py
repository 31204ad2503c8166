"""Interleaved before/after timing of one inference change, in one process, on the speed benchmark's texts.

    flock /tmp/tunekit-heavy.lock python bench/speed_ab_inference.py CHANGE [ROUNDS] [BATCH_SIZE]

Like ``speed_ab.py`` for training: this CPU's speed drifts more between minutes than most single changes are
worth, so one `Predictor` (the finished SST-2 run ``bench/runs/sst2-full``, as ``speed_infer.py`` loads it)
classifies all 872 GLUE dev texts ROUNDS times (default 8) each way, in alternating order, tokenisation
included. CHANGE:

- ``packed-inference``: BERT encoders on the real tokens only (`padding_free_encoders`) against the encoder's
  own padded forward;
- ``bf16-model``: the run's model as a whole-model `bf16_copy` against a copy with only its Linear weights in bf16
  (residual stream, layer norms and embeddings fp32 under autocast);
- ``fused-linear``: the padding-free layers with their GELU and residual adds fused into the matmuls
  (`tunekit.inference.fused_linear`) against the same layers unfused;
- ``inference-attention``: the padding-free layers attending with `inference_attention` against the model's own
  function (SDPA);
- ``first-token-last-layer``: the classifier's last layer computed for each text's first token only (its keys and
  values for every token) against the whole layer;
- ``kept-concatenation``: the packed layers' concatenated query, key and value weights kept between calls
  (`padding_free._concatenated`) against concatenating them on every call.

Each change is measured with the changes above it in place and those below it undone on both sides.

Prints the texts/s of each side, their ratio, the largest probability difference between the sides and the
dev accuracy of each; results quoted in docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import copy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from speed_ab import both, sdpa_attention_dropout, whole_last_layer
from speed_train import sst2_dev
from tunekit.inference import batch
from tunekit.inference.predictor import Predictor
from tunekit.training import padding_free

RUN_DIR = Path(__file__).parent / "runs" / "sst2-full"


def padded_encoders(predictor: Predictor) -> contextlib.AbstractContextManager:
    """Inside the block, inference runs the encoders' own padded forward."""
    return mock.patch.object(batch, "padding_free_encoders", lambda model: contextlib.nullcontext([]))


def unfused(predictor: Predictor) -> contextlib.AbstractContextManager:
    """Inside the block, the padding-free layers run without `fused_linear`'s operators."""
    return mock.patch.object(padding_free, "_fused_inference", lambda layer, packed: False)


def linear_weights_only(predictor: Predictor) -> contextlib.AbstractContextManager:
    """Inside the block, the predictor runs a copy with only its Linear weights in bf16."""
    fast = copy.deepcopy(predictor.model)
    for module in fast.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
    return mock.patch.object(predictor._weights, "_cast", fast.requires_grad_(False).eval())


def models_own_attention(predictor: Predictor) -> contextlib.AbstractContextManager:
    """Inside the block, the padding-free layers attend through the model's own attention function (SDPA)."""
    return sdpa_attention_dropout()


def concatenated_every_call(predictor: Predictor) -> contextlib.AbstractContextManager:
    """Inside the block, the packed layers concatenate their projection weights on every call."""
    return mock.patch.object(padding_free, "_concatenated", lambda linears: (
        torch.cat([linear.weight for linear in linears]), torch.cat([linear.bias for linear in linears])))


# each change undone inside its block; a change is measured with every change above it in place, none below
UNDO: dict[str, Callable[[Predictor], contextlib.AbstractContextManager]] = {
    "packed-inference": padded_encoders,
    "bf16-model": linear_weights_only,
    "fused-linear": unfused,
    "inference-attention": models_own_attention,
    "first-token-last-layer": lambda predictor: whole_last_layer(),
    "kept-concatenation": concatenated_every_call,
}


def undone(changes: list[str]) -> Callable[[Predictor], contextlib.ExitStack]:
    """A context factory that undoes ``changes`` inside its block."""
    return lambda predictor: both(*(UNDO[change](predictor) for change in changes))


def main() -> None:
    change = sys.argv[1] if len(sys.argv) > 1 else ""
    if change not in UNDO:
        raise SystemExit(f"usage: speed_ab_inference.py {'|'.join(UNDO)} [ROUNDS] [BATCH_SIZE]")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    batch_size = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    if not (RUN_DIR / "model").is_dir():
        raise SystemExit(f"needs the finished run {RUN_DIR}: `python bench/core_benchmarks.py --only sst2-full`")
    dev = sst2_dev(None)
    labels = np.array([int(x) for x in dev.labels])
    predictor = Predictor.from_run_dir(RUN_DIR, batch_size=batch_size)
    later = list(UNDO)[list(UNDO).index(change) + 1:]
    sides = {"before": undone([change, *later]), "after": undone(later)}
    seconds, probabilities = dict.fromkeys(sides, 0.0), {}
    for side in sides:  # warm-up: the cast weights, kernel selection
        with sides[side](predictor):
            predictor.predict_proba(dev.texts[:batch_size])
    for round_ in range(rounds):
        for side in ("before", "after") if round_ % 2 == 0 else ("after", "before"):
            with sides[side](predictor):
                started = time.perf_counter()
                probabilities[side] = predictor.predict_proba(dev.texts)
                seconds[side] += time.perf_counter() - started
    speed = {side: rounds * len(dev.texts) / seconds[side] for side in sides}
    accuracy = {side: float(np.mean(np.array(predictor.classes)[p.argmax(1)].astype(int) == labels))
                for side, p in probabilities.items()}
    print(f"{change} (batch {batch_size}, {rounds} rounds of {len(dev.texts)} texts each way): before "
          f"{speed['before']:.1f} texts/s, after {speed['after']:.1f} texts/s, "
          f"x{speed['after'] / speed['before']:.3f}; "
          f"largest probability difference {np.abs(probabilities['after'] - probabilities['before']).max():.4f}, "
          f"dev accuracy before {accuracy['before']:.4f}, after {accuracy['after']:.4f}", flush=True)


if __name__ == "__main__":
    main()
