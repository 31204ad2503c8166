"""Interleaved before/after timing of one training-step change, in one process, on the speed benchmark's data.

    flock /tmp/tunekit-heavy.lock python bench/speed_ab.py CHANGE [ROUNDS]

This CPU's speed drifts by 10-20% between minutes (docs/benchmarks.md), more than most single changes are worth,
so two processes run one after the other cannot rank them. Here one model and one optimiser train through
ROUNDS rounds (default 20); each round runs the same 8 batches the old way and the new way, in alternating order,
so any drift hits both sides alike. Rounds take successive blocks of one length-grouped epoch; samples/s is summed
per side. (Until 2026-12-03 21:45 the two sides of a round ran successive blocks, different batches: an A/A run of
that harness, both sides the same step, read x1.058 and x1.025, so figures taken with it carry that much noise.) CHANGE:

- ``row-gradient-embeddings`` (full fine-tuning): `OptimizerStep` (row gradients for the word embeddings, the clip
  folded into fused AdamW) against ``clip_grad_norm_`` + ``optimizer.step()`` with a dense embedding gradient;
- ``lean-lora`` (LoRA): tunekit's `use_lean_lora_forward` against peft's own LoRA forward;
- ``padding-free`` / ``padding-free-lora``: `padding_free_encoders` against the padded encoder forward;
- ``fast-attention-dropout`` / ``-lora``: padding-free layers attending with `FastDropout` on the probabilities
  against the model's own SDPA (ATen's dropout);
- ``fused-qkv``: padding-free layers projecting query, key and value in one matmul against three;
- ``touched-rows-adamw`` (full fine-tuning): the word embedding stepped by `TouchedRowsAdamW` against its dense
  gradient buffer stepped by torch's fused AdamW;
- ``frozen-bf16-lora`` (LoRA): the frozen base weights run on bf16 copies made once (`frozen_bf16`) against
  autocast casting them on every call;
- ``splitmix-dropout`` / ``-full``: `FastDropout` masks from the compiled SplitMix64 kernel
  (`tunekit.training.dropout_bits`) against numpy's PCG64, which drew them before;
- ``bf16-working-copies`` (full fine-tuning): the trained linear weights run as bf16 copies stepped by the compiled
  AdamW (`tunekit.training.bf16_working_copies`) against autocast casting them and torch's fused AdamW;
- ``compiled-rows-adamw`` (full fine-tuning): `TouchedRowsAdamW` stepping the touched rows in place with the
  compiled kernel (`adamw_kernels.adamw_rows_step`) against gathering them into a block for torch's fused
  AdamW kernel and scattering them back, as it did before; both sides on the bf16 working copies;
- ``unpadded-packed`` / ``-lora``: a batch without padding (the model passes the encoder no mask) through the
  padding-free layers, every position a row, against the encoder's own forward (three projections, SDPA with
  ATen's dropout), which such batches took before; both sides as the training loop runs (bf16 working copies
  for full fine-tuning, the lean LoRA forward for LoRA);
- ``first-token-last-layer`` / ``-lora``: the last encoder layer of a sequence classifier computed for each
  example's first token only (its keys and values for every token), against the whole layer; both sides as
  ``unpadded-packed``'s;
- ``same-step`` (full fine-tuning): a control, the loop's step on both sides; how far from x1.000 the harness
  reads when nothing changes;
- ``dot-gradient-norm`` / ``-lora``: the clip's norm from BLAS dot products (`tunekit.training.gradient_norm`)
  against ``torch.nn.utils.get_total_norm``, which took it before; both sides as ``unpadded-packed``'s;
- ``packed-rows-exact`` (full fine-tuning): the packed layers' row count exact against rounded up to
  `padding_free.PACKED_ROWS_MULTIPLE` (16); both sides as ``unpadded-packed``'s;
- ``heap`` (full fine-tuning): `retain_freed_memory` against glibc's default thresholds. A process-wide setting
  that cannot be switched back to glibc's adaptive default, so this one alternates ROUNDS pairs of child
  processes (default 3), each timing 120 steps of tunekit's step after 10 warm-up steps, and prints the median
  ms/step and page faults/step of each side.

Each change is measured against the step with the changes above it in place, both sides through
`OptimizerStep` except in the first. Both sides compute as the training loop would on this CPU: under bf16 autocast
where it runs bf16 natively, else in fp32 (before 2026-12-07 always bf16); the changes that are about bf16 itself
(``frozen-bf16-lora``, ``bf16-working-copies``, ``compiled-rows-adamw``) need a CPU with native bf16.

Prints one line per change with both speeds and their ratio; results quoted in docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from unittest import mock

import torch
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from speed_dropout import pcg64_dropout
from speed_train import load_sst2, run_config
from tunekit.data.batching import collate, length_grouped_batches
from tunekit.data.tokenize import encode_texts
from tunekit.methods.lora import lean_forward
from tunekit.methods.lora.lean_forward import use_lean_lora_forward
from tunekit.run.model_io import build_model, load_tokenizer
from tunekit.training import gradient_norm, padding_free
from tunekit.training.bf16_working_copies import (
    Bf16WorkingCopies,
    bf16_trainable_linears,
    bf16_working_copies_for_loop,
)
from tunekit.training.fast_dropout import use_fast_dropout
from tunekit.training.heap import retain_freed_memory
from tunekit.training.optimizer import build_optimizer
from tunekit.training.optimizer_step import OptimizerStep
from tunekit.training.padding_free import padding_free_encoders
from tunekit.training.precision import cpu_has_native_bf16
from tunekit.training.touched_rows_adamw import TouchedRowsAdamW

CHANGES = {"row-gradient-embeddings": "full", "lean-lora": "lora", "padding-free": "full", "padding-free-lora": "lora",
           "fast-attention-dropout": "full", "fast-attention-dropout-lora": "lora", "fused-qkv": "full",
           "touched-rows-adamw": "full", "frozen-bf16-lora": "lora", "splitmix-dropout": "lora",
           "splitmix-dropout-full": "full", "bf16-working-copies": "full", "compiled-rows-adamw": "full",
           "unpadded-packed": "full", "unpadded-packed-lora": "lora", "first-token-last-layer": "full",
           "first-token-last-layer-lora": "lora", "same-step": "full", "packed-rows-exact": "full",
           "dot-gradient-norm": "full", "dot-gradient-norm-lora": "lora",
           "heap": "full", "heap-default": "full", "heap-retain": "full"}
BF16_ONLY = {"frozen-bf16-lora", "bf16-working-copies", "compiled-rows-adamw"}  # both sides, or one, bf16 by design
LEARNING_RATES = {"full": 1e-4, "lora": 1e-3}
STEPS_PER_BLOCK = 8
HEAP_STEPS = 120


def both(*contexts: contextlib.AbstractContextManager) -> contextlib.ExitStack:
    """All of ``contexts`` entered, as one context."""
    stack = contextlib.ExitStack()
    for context in contexts:
        stack.enter_context(context)
    return stack


def separate_projections() -> contextlib.AbstractContextManager:
    """Padding-free layers call the query, key and value projections one by one inside the block."""
    return mock.patch.object(padding_free, "FUSE_QKV", False)


@contextlib.contextmanager
def sdpa_attention_dropout() -> Iterator[None]:
    """Padding-free layers attend through the model's own function (SDPA, ATen's dropout) inside the block, in
    training and at inference."""
    def models_own(attention: torch.nn.Module, query: torch.Tensor):
        return ALL_ATTENTION_FUNCTIONS.get_interface(attention.config._attn_implementation, None)

    with mock.patch.object(padding_free, "attention_function", models_own):
        yield


def frozen_weights_cast_per_call() -> contextlib.AbstractContextManager:
    """Inside the block, the lean LoRA forward leaves the frozen base weights to autocast's per-call cast."""
    return mock.patch.object(lean_forward, "CACHE_FROZEN_BASE", False)


@contextlib.contextmanager
def dense_embedding_adamw(clip_and_step: OptimizerStep) -> Iterator[None]:
    """`OptimizerStep` (entered inside the block) steps the word embedding through its dense gradient buffer."""
    row_optimizers, clip_and_step._row_optimizers = clip_and_step._row_optimizers, {}
    try:
        with clip_and_step:
            yield
    finally:
        clip_and_step._row_optimizers = row_optimizers


def _gathered_rows_step(self: TouchedRowsAdamW, gradient: torch.Tensor, divisor: torch.Tensor | None) -> None:
    """`TouchedRowsAdamW.step` as it was before the compiled row kernel: the touched rows gathered into a block,
    torch's fused AdamW kernel on the block, the block scattered back."""
    state = self._state()
    touched_now = gradient.indices()[0]
    self._touch(touched_now)
    count, rows = self._count, self._rows[:self._count]
    blocks = self.__dict__.setdefault("_gathered_blocks", {})
    if len(blocks.get("grad", ())) < count:  # grown as the compact moments grow (zero-filled, old rows kept)
        grown = torch.zeros(len(self._rows), self.weight.shape[1])
        if "grad" in blocks:
            grown[:len(blocks["grad"])] = blocks["grad"]
        blocks.update(grad=grown, weight=torch.zeros(len(self._rows), self.weight.shape[1]))
    grad = blocks["grad"][:count]
    if "written" in blocks:
        grad.index_fill_(0, blocks["written"], 0.0)
    blocks["written"] = self._slots[touched_now]
    grad.index_copy_(0, blocks["written"], gradient.values().to(grad.dtype))
    weights = torch.index_select(self.weight.data, 0, rows, out=blocks["weight"][:count])
    lr, (beta1, beta2) = float(self.group["lr"]), self.group["betas"]
    state["step"] += 1
    torch._fused_adamw_([weights], [grad], [self._blocks["exp_avg"][:count]], [self._blocks["exp_avg_sq"][:count]],
                        [], [state["step"]], lr=lr, beta1=float(beta1), beta2=float(beta2),
                        weight_decay=self.group["weight_decay"], eps=self.group["eps"], amsgrad=False,
                        maximize=False, grad_scale=divisor, found_inf=None)
    self.weight.data.index_copy_(0, rows, weights)
    self._pending_decay *= 1.0 - lr * self.group["weight_decay"]
    self._state_behind = True


def gathered_rows_adamw() -> contextlib.AbstractContextManager:
    """Inside the block, `TouchedRowsAdamW` steps its rows as it did before the compiled row kernel."""
    return mock.patch.object(TouchedRowsAdamW, "step", _gathered_rows_step)


@contextlib.contextmanager
def unpadded_batches_own_forward() -> Iterator[None]:
    """Inside the block, a batch without padding goes through the encoder's own forward, as it did before."""
    real_tokens = padding_free._real_tokens

    def padded_only(encoder, hidden_states, attention_mask, *args):
        return None if attention_mask is None else real_tokens(encoder, hidden_states, attention_mask, *args)

    with mock.patch.object(padding_free, "_real_tokens", padded_only):
        yield


def whole_last_layer() -> contextlib.AbstractContextManager:
    """Padding-free blocks entered inside this one leave the sequence classifier's forward as it is, so its last
    encoder layer runs on every token."""
    return mock.patch.object(padding_free, "_first_token_classifier_forward",
                             lambda self, *args, **kwargs: type(self).forward(self, *args, **kwargs))


@contextlib.contextmanager
def lean_lora_forward(model: torch.nn.Module) -> Iterator[None]:
    """tunekit's lean LoRA forward inside the block, peft's outside it."""
    layers = use_lean_lora_forward(model)
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward


def heap_pairs(rounds: int) -> None:
    """Alternate child processes with glibc's default heap thresholds and with `retain_freed_memory`."""
    runs: dict[str, list[tuple[float, float]]] = {"default": [], "retain": []}
    for round_ in range(rounds):
        for side in ("default", "retain") if round_ % 2 == 0 else ("retain", "default"):
            output = subprocess.run([sys.executable, __file__, f"heap-{side}"], capture_output=True, text=True,
                                    check=True).stdout.split()
            runs[side].append((float(output[-2]), float(output[-1])))
            milliseconds, faults = runs[side][-1]
            print(f"round {round_ + 1} {side}: {milliseconds:.1f} ms/step, {faults:.0f} page faults/step", flush=True)
    medians = {side: [statistics.median(values) for values in zip(*runs[side], strict=True)] for side in runs}
    print(f"heap (full, {rounds} pairs of processes, {HEAP_STEPS} steps each): default {medians['default'][0]:.1f} "
          f"ms/step ({medians['default'][1]:.0f} faults), retain {medians['retain'][0]:.1f} ms/step "
          f"({medians['retain'][1]:.0f} faults), x{medians['default'][0] / medians['retain'][0]:.3f}", flush=True)


def main() -> None:
    change = sys.argv[1] if len(sys.argv) > 1 else ""
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    if change not in CHANGES:
        raise SystemExit(f"usage: speed_ab.py {'|'.join(c for c in CHANGES if not c.startswith('heap-'))} [ROUNDS]")
    if change == "heap":
        heap_pairs(int(sys.argv[2]) if len(sys.argv) > 2 else 3)
        return
    method = CHANGES[change]
    bf16 = cpu_has_native_bf16()  # as the loop's `train.bf16: auto`: emulated bf16 runs ~100x slower than fp32
    if change in BF16_ONLY and not bf16:
        raise SystemExit(f"{change} compares two bf16 paths; this CPU has no native bf16 (AVX512-BF16 or AMX)")
    params = {"model": "minilm-l6", "batch_size": 16, "seed": 0, "method": method,
              "learning_rate": LEARNING_RATES[method], "n_train": 4000, "epochs": 1, "eval_every": 50}
    splits = load_sst2(params["n_train"], 64, params["seed"])
    model, model_dir = build_model(run_config(params), splits.label_map)
    use_fast_dropout(model)
    tokenizer = load_tokenizer(model_dir)
    encoded = encode_texts(tokenizer, list(splits.train.texts), max_seq_len=128)
    labels = torch.tensor(splits.label_map.encode(splits.train.labels))
    optimizer = build_optimizer(model, params["learning_rate"], 0.01)
    trainable = [p for p in model.parameters() if p.requires_grad]
    clip_and_step = OptimizerStep(model, optimizer, 1.0)
    batches = length_grouped_batches(encoded.lengths, params["batch_size"], torch.Generator().manual_seed(0))
    model.train()

    def backward(indices, forward=None) -> None:
        inputs = collate(encoded, indices, tokenizer.pad_token_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = (forward(model, inputs) if forward else model(**inputs)).logits
        torch.nn.functional.cross_entropy(logits.float(), labels[indices]).backward()

    def old_step(indices) -> None:  # before row-gradient embeddings: torch's clip, dense embedding gradient
        backward(indices)
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def tunekit_step(indices, clip_and_step=clip_and_step) -> None:
        backward(indices, clip_and_step.forward)
        clip_and_step()
        optimizer.zero_grad(set_to_none=True)

    # each change against the step with every earlier change in place (the order of docs/benchmarks.md)
    steps = {"before": tunekit_step, "after": tunekit_step}
    sides = {"before": lambda: clip_and_step, "after": lambda: clip_and_step}
    if change == "row-gradient-embeddings":
        steps["before"], sides["before"] = old_step, contextlib.nullcontext
    elif change == "lean-lora":
        sides["after"] = lambda: both(clip_and_step, lean_lora_forward(model))
    elif change.startswith("padding-free"):  # the model's own attention on both sides: dropout's change is next
        if method == "lora":
            use_lean_lora_forward(model)
        sides["after"] = lambda: both(clip_and_step, padding_free_encoders(model), sdpa_attention_dropout())
    elif change == "touched-rows-adamw":
        sides["before"] = lambda: both(dense_embedding_adamw(clip_and_step), padding_free_encoders(model))
        sides["after"] = lambda: both(clip_and_step, padding_free_encoders(model))
    elif change == "frozen-bf16-lora":
        use_lean_lora_forward(model)
        sides["before"] = lambda: both(clip_and_step, padding_free_encoders(model), frozen_weights_cast_per_call())
        sides["after"] = lambda: both(clip_and_step, padding_free_encoders(model))
    elif change.startswith("splitmix-dropout"):
        if method == "lora":
            use_lean_lora_forward(model)
        sides["before"] = lambda: both(clip_and_step, padding_free_encoders(model), pcg64_dropout())
        sides["after"] = lambda: both(clip_and_step, padding_free_encoders(model))
    elif change == "compiled-rows-adamw":
        with_copies = OptimizerStep(model, optimizer, 1.0, Bf16WorkingCopies(bf16_trainable_linears(model, optimizer),
                                                                           optimizer))
        steps["before"] = steps["after"] = lambda indices: tunekit_step(indices, with_copies)
        sides["before"] = lambda: both(with_copies, padding_free_encoders(model), gathered_rows_adamw())
        sides["after"] = lambda: both(with_copies, padding_free_encoders(model))
    elif change == "bf16-working-copies":
        with_copies = OptimizerStep(model, optimizer, 1.0, Bf16WorkingCopies(bf16_trainable_linears(model, optimizer),
                                                                       optimizer))
        steps["after"] = lambda indices: tunekit_step(indices, with_copies)
        sides["before"] = lambda: both(clip_and_step, padding_free_encoders(model))
        sides["after"] = lambda: both(with_copies, padding_free_encoders(model))
    elif change.startswith(("unpadded-packed", "first-token-last-layer", "same-step", "packed-rows-exact",
                            "dot-gradient-norm")):
        if method == "lora":
            use_lean_lora_forward(model)
        as_the_loop = OptimizerStep(model, optimizer, 1.0, bf16_working_copies_for_loop(
            model, optimizer, bf16=bf16, device=torch.device("cpu"), micro_batches_per_step=1))
        steps["before"] = steps["after"] = lambda indices: tunekit_step(indices, as_the_loop)
        if change.startswith("unpadded-packed"):
            sides["before"] = lambda: both(as_the_loop, padding_free_encoders(model), unpadded_batches_own_forward())
        elif change == "same-step":
            sides["before"] = lambda: both(as_the_loop, padding_free_encoders(model))
        elif change.startswith("dot-gradient-norm"):
            sides["before"] = lambda: both(as_the_loop, padding_free_encoders(model), mock.patch.object(
                gradient_norm, "sum_of_squares", lambda tensors: torch.nn.utils.get_total_norm(tensors).double() ** 2))
        elif change == "packed-rows-exact":
            sides["before"] = lambda: both(as_the_loop, padding_free_encoders(model))
            sides["after"] = lambda: both(as_the_loop, padding_free_encoders(model),
                                          mock.patch.object(padding_free, "PACKED_ROWS_MULTIPLE", 1))
        else:
            sides["before"] = lambda: both(as_the_loop, whole_last_layer(), padding_free_encoders(model))
        if change != "packed-rows-exact":
            sides["after"] = lambda: both(as_the_loop, padding_free_encoders(model))
    elif change == "fused-qkv":
        sides["before"] = lambda: both(clip_and_step, padding_free_encoders(model), separate_projections())
        sides["after"] = lambda: both(clip_and_step, padding_free_encoders(model))
    else:
        if method == "lora":
            use_lean_lora_forward(model)
        sides["before"] = lambda: both(clip_and_step, padding_free_encoders(model), sdpa_attention_dropout())
        sides["after"] = lambda: both(clip_and_step, padding_free_encoders(model))

    if change.startswith("heap-"):  # one child of `heap_pairs`: prints ms/step and page faults/step
        if change == "heap-retain":
            retain_freed_memory()
        with clip_and_step, padding_free_encoders(model):
            for indices in batches[:10]:
                tunekit_step(indices)
            faults, started = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
            for indices in batches[10:10 + HEAP_STEPS]:
                tunekit_step(indices)
            milliseconds = 1000 * (time.perf_counter() - started) / HEAP_STEPS
            print(milliseconds, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / HEAP_STEPS)
        return

    if change.startswith(("bf16-working-copies", "compiled-rows-adamw", "unpadded-packed", "first-token-last-layer",
                          "same-step", "packed-rows-exact", "dot-gradient-norm")):
        retain_freed_memory()  # as the training loop does; the A/Bs listed above these ran with glibc's defaults
    seconds, samples, position = dict.fromkeys(sides, 0.0), dict.fromkeys(sides, 0), 0
    for indices in batches[:10]:  # warm-up: allocator, kernel selection
        with sides["before"]():
            steps["before"](indices)
    for round_ in range(rounds):
        # both sides run the same block of batches: blocks differ in length, and so in samples/s
        block = [batches[(10 + position + i) % len(batches)] for i in range(STEPS_PER_BLOCK)]
        position += STEPS_PER_BLOCK
        for side in ("before", "after") if round_ % 2 == 0 else ("after", "before"):
            with sides[side]():
                started = time.perf_counter()
                for indices in block:
                    steps[side](indices)
                seconds[side] += time.perf_counter() - started
            samples[side] += sum(len(b) for b in block)
    speed = {side: samples[side] / seconds[side] for side in sides}
    print(f"{change} ({method}, {rounds} rounds of {STEPS_PER_BLOCK}+{STEPS_PER_BLOCK} steps): before "
          f"{speed['before']:.1f} samples/s, after {speed['after']:.1f} samples/s, "
          f"x{speed['after'] / speed['before']:.3f}", flush=True)


if __name__ == "__main__":
    main()
