"""Where a training step's time goes: per phase, and how much of it is fixed per step rather than per token.

MiniLM-L6 on the speed benchmark's SST-2 examples, bf16 autocast where the CPU runs bf16 natively (else fp32, as
tunekit's ``train.bf16: auto``), tunekit's batches and collate, STEPS timed
steps after 10 warm-up steps. A diagnostic next to bench/speed_benchmarks.py, not a comparison.

    python bench/speed_step_profile.py fused full 2 fast 120        # MODE METHOD THREADS [DROPOUT] [STEPS] [BATCH]
    python bench/speed_step_profile.py tunekit full 2 fast 230 64

MODE is foreach, fused or fused-compile (the AdamW implementation with ``clip_grad_norm_`` + ``optimizer.step``,
and torch.compile of the model), or tunekit: the step `train_loop` runs (`OptimizerStep`'s clip and fused AdamW
with touched-rows embeddings, the bf16 working copies, padding-free encoders, the heap kept between steps).
tunekit-linears is the tunekit step with every forward ``nn.functional.linear`` timed where it runs (inputs cast
to bf16 outside the clock, as autocast would), printed next to the same GEMM shapes timed alone: how fast the
matmuls run inside a step.
DROPOUT is ``torch`` (nn.Dropout, the default) or ``fast`` (tunekit's FastDropout, as `train.fast_dropout`
does). STEPS (default 120) is the number of timed steps; BATCH (default 16) the batch size.

Besides the mean time of each phase, it fits each of forward, backward and the optimiser phases as
``fixed + per_token × real tokens`` over the timed steps (least squares; batches differ in length), and prints
model FLOPs utilisation against the GEMM peak of the precision it ran in, measured at the end (bench/speed_flops.py).
"""

import contextlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from speed_flops import gemm_peak_gflops, training_flops
from speed_train import load_sst2, run_config
from tunekit.data.batching import collate
from tunekit.data.tokenize import encode_texts
from tunekit.run.model_io import build_model, load_tokenizer
from tunekit.training.bf16_working_copies import bf16_working_copies_for_loop
from tunekit.training.fast_dropout import use_fast_dropout
from tunekit.training.heap import retain_freed_memory
from tunekit.training.loop import epoch_batches
from tunekit.training.optimizer import build_optimizer
from tunekit.training.optimizer_step import OptimizerStep
from tunekit.training.padding_free import padding_free_encoders
from tunekit.training.precision import cpu_has_native_bf16

PHASES = ("collate", "forward", "backward", "clip", "optimizer", "zero_grad")  # tunekit: clip is inside optimizer


class TimedLinears:
    """From its creation until `report`, ``nn.functional.linear`` is this timed call: seconds and FLOPs of the
    matmuls alone, and the (rows, in, out) shapes they ran at."""

    def __init__(self) -> None:
        self.linear, self.seconds, self.flops = F.linear, 0.0, 0.0
        self.shapes: dict[tuple[int, int, int], int] = {}
        F.linear = self

    def __call__(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        x, weight = x.to(torch.bfloat16), weight.to(torch.bfloat16)
        bias = None if bias is None else bias.to(torch.bfloat16)
        with torch.autocast("cpu", enabled=False):
            started = time.perf_counter()
            out = self.linear(x, weight, bias)
            self.seconds += time.perf_counter() - started
        shape = (x.numel() // x.shape[-1], weight.shape[1], weight.shape[0])
        self.shapes[shape] = self.shapes.get(shape, 0) + 1
        self.flops += 2 * shape[0] * shape[1] * shape[2]
        return out

    def report(self, steps: int) -> None:
        F.linear = self.linear
        alone = sum(count * gemm_seconds(shape) for shape, count in self.shapes.items())
        print(f"  forward linears in place: {1000 * self.seconds / steps:.1f} ms a step, "
              f"{self.flops / self.seconds / 1e9:.0f} GFLOP/s; the same GEMMs alone: {1000 * alone / steps:.1f} ms, "
              f"{self.flops / alone / 1e9:.0f} GFLOP/s", flush=True)


def gemm_seconds(shape: tuple[int, int, int], reps: int = 20) -> float:
    """Mean seconds of one bf16 ``linear`` at ``(rows, in, out)`` called ``reps`` times in a row (after 3 warm-up
    calls), so its operands stay in cache."""
    rows, width, out = shape
    x, weight, bias = (torch.randn(rows, width).bfloat16(), torch.randn(out, width).bfloat16(),
                       torch.randn(out).bfloat16())
    for _ in range(3):
        F.linear(x, weight, bias)
    started = time.perf_counter()
    for _ in range(reps):
        F.linear(x, weight, bias)
    return (time.perf_counter() - started) / reps


def main() -> None:
    mode, method = sys.argv[1], sys.argv[2]
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else torch.get_num_threads())
    batch_size = int(sys.argv[6]) if len(sys.argv) > 6 else 16
    p = {"model": "minilm-l6", "batch_size": batch_size, "seed": 0, "method": method, "learning_rate": 1e-4,
         "n_train": 4000, "epochs": 1, "eval_every": 50, "target_accuracy": 0.85}
    bf16 = cpu_has_native_bf16()  # as tunekit's `train.bf16: auto`: bf16 autocast only where the CPU runs it natively
    splits = load_sst2(4000, 64, 0)
    model, model_dir = build_model(run_config(p), splits.label_map)
    dropout = sys.argv[4] if len(sys.argv) > 4 else "torch"
    if dropout == "fast":
        use_fast_dropout(model)
    tokenizer = load_tokenizer(model_dir)
    encoded = encode_texts(tokenizer, splits.train.texts, max_seq_len=128)
    targets = torch.from_numpy(splits.label_map.encode(splits.train.labels))
    trainable = [q for q in model.parameters() if q.requires_grad]
    if mode.startswith("tunekit"):
        retain_freed_memory()
        optimizer = build_optimizer(model, 1e-4, 0.01)
        working_copies = bf16_working_copies_for_loop(model, optimizer, bf16=bf16, device=torch.device("cpu"),
                                                      micro_batches_per_step=1)
        clip_and_step = OptimizerStep(model, optimizer, 1.0, working_copies)
        forward = clip_and_step.forward
        context = contextlib.ExitStack()
        context.enter_context(clip_and_step)
        context.enter_context(padding_free_encoders(model))
    else:
        optimizer = torch.optim.AdamW(trainable, lr=1e-4,
                                      **({"foreach": True} if mode == "foreach" else {"fused": True}))
        context = contextlib.nullcontext()
        compiled = torch.compile(model, dynamic=True) if mode == "fused-compile" else model
        forward = lambda model, batch: compiled(**batch)  # noqa: E731
    groups = epoch_batches(encoded.lengths, batch_size, 1, 0, 0)
    model.train()
    steps: list[tuple[float, float, list[float]]] = []  # per timed step: real tokens, squared lengths, phase seconds

    def step(indices, record: bool) -> None:
        marks = [time.perf_counter()]
        batch = collate(encoded, indices, tokenizer.pad_token_id)
        marks.append(time.perf_counter())
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = forward(model, batch).logits
        loss = F.cross_entropy(logits.float(), targets[indices])
        marks.append(time.perf_counter())
        loss.backward()
        marks.append(time.perf_counter())
        if mode.startswith("tunekit"):
            marks.append(time.perf_counter())
            clip_and_step()
        else:
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            marks.append(time.perf_counter())
            optimizer.step()
        marks.append(time.perf_counter())
        optimizer.zero_grad(set_to_none=True)
        marks.append(time.perf_counter())
        if record:
            lengths = batch["attention_mask"].sum(dim=1).double()
            steps.append((float(lengths.sum()), float((lengths**2).sum()), list(np.diff(marks))))

    with context:
        started = time.perf_counter()
        for group in groups[:10]:
            step(group[0], False)
        warmup = time.perf_counter() - started
        linears = TimedLinears() if mode == "tunekit-linears" else None
        n = min(int(sys.argv[5]) if len(sys.argv) > 5 else 120, len(groups) - 10)
        started = time.perf_counter()
        for group in groups[10:10 + n]:
            step(group[0], True)
        total = time.perf_counter() - started
    tokens = np.array([s[0] for s in steps])
    seconds = np.array([s[2] for s in steps])
    print(f"{mode} {method} threads {torch.get_num_threads()} dropout {dropout} batch {batch_size}: warm-up 10 steps "
          f"{warmup:.1f} s; steady {batch_size * n / total:.1f} samples/s ({n} steps, {tokens.mean():.0f} real "
          f"tokens a step);", {k: f"{1000 * v:.1f} ms" for k, v in zip(PHASES, seconds.mean(axis=0), strict=True)},
          flush=True)
    design = np.stack([np.ones_like(tokens), tokens], axis=1)
    for name, columns in (("forward", [1]), ("backward", [2]), ("optimiser", [3, 4, 5]), ("step", range(6))):
        (fixed, per_token), *_ = np.linalg.lstsq(design, seconds[:, list(columns)].sum(axis=1), rcond=None)
        print(f"  {name}: {1000 * fixed:.1f} ms fixed + {1e6 * per_token:.1f} µs per real token", flush=True)
    if linears is not None:
        linears.report(n)
    flops = training_flops(model, tokens.sum(), sum(s[1] for s in steps), batch_size * n)
    peak = gemm_peak_gflops(torch.bfloat16 if bf16 else torch.float32)
    print(f"  model FLOPs {flops / total / 1e9:.0f} GFLOP/s = MFU {flops / total / 1e9 / peak:.1%} of the "
          f"{'bf16' if bf16 else 'fp32'} GEMM "
          f"peak measured now ({peak:.0f} GFLOP/s)", flush=True)


if __name__ == "__main__":
    main()
