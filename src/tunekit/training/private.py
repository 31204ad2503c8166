"""DP-SGD training (Abadi et al. 2016, arXiv:1607.00133) through Opacus: Poisson sampling, per-sample gradient
clipping, Gaussian noise, and a privacy accountant that reports the (ε, δ) guarantee actually spent.

A separate loop from `tunekit.training.loop`: DP-SGD changes how batches are drawn (each example independently,
with probability q) and how gradients are formed, and a DP run does no early stopping on validation data (picking a
checkpoint by validation score would itself leak). Per-sample gradients of all parameters of a transformer do not
fit in memory on a CPU, so DP-SGD trains a parameter-efficient method (LoRA, head-only, …) whose trainable layers
Opacus supports (Linear, Embedding, LayerNorm).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from opacus import GradSampleModule
from opacus.accountants import PRVAccountant, RDPAccountant
from opacus.accountants.utils import get_noise_multiplier
from opacus.optimizers import DPOptimizer
from torch import nn

from tunekit.atomic import write_json
from tunekit.config import RunConfig
from tunekit.data.batching import collate
from tunekit.data.tokenize import EncodedTexts
from tunekit.errors import ConfigError
from tunekit.run.layout import RunLayout
from tunekit.training.checkpoint import TrainerState, save_trainable
from tunekit.training.logger import TrainingLogger
from tunekit.training.precision import autocast

log = logging.getLogger("tunekit")
PHYSICAL_BATCH_SIZE = 64  # per-sample gradients are materialised this many examples at a time (memory bound)


@dataclass
class PrivacySpent:
    """The DP guarantee of a finished run, written to RUN_DIR/privacy.json."""

    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    expected_batch_size: int
    steps: int
    max_per_sample_grad_norm: float
    accountant: str
    training_examples: int

    def to_json(self) -> dict:
        return asdict(self)


def _accountant(name: str):
    return PRVAccountant() if name == "prv" else RDPAccountant()


def wrap_for_per_sample_gradients(model: nn.Module) -> GradSampleModule:
    """Opacus' per-sample-gradient wrapper, or a ConfigError naming the layers it cannot handle."""
    try:
        return GradSampleModule(model, batch_first=True, loss_reduction="mean", strict=True)
    except Exception as exc:  # Opacus raises NotImplementedError / ValueError for unsupported trainable layers
        raise ConfigError(f"DP-SGD cannot compute per-sample gradients for this model and method: {exc}",
                          "use `method=lora` or `method=head_only` with `privacy.dp_sgd=true`") from None


def train_private(model: nn.Module, encoded: EncodedTexts, targets: np.ndarray, *, pad_id: int,
                  optimizer: torch.optim.Optimizer, total_steps: int, expected_batch_size: int,
                  target_epsilon: float, delta: float | None, max_per_sample_grad_norm: float, accountant: str,
                  seed: int, scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
                  device: torch.device | None = None, bf16: bool = False,
                  logger: TrainingLogger | None = None, log_every_steps: int = 20) -> PrivacySpent:
    """DP-SGD for ``total_steps`` steps; the noise multiplier is the smallest that keeps ε ≤ ``target_epsilon``.

    Args:
        model: the model with only the parameters to train requiring gradients; trained in place.
        encoded: tokenised training texts; ``targets``: their class ids ``(n_examples,)``.
        optimizer: the optimiser over the trainable parameters (wrapped in Opacus' `DPOptimizer`).
        total_steps: optimiser steps; each draws every example independently with probability
            ``expected_batch_size / n_examples`` (Poisson sampling, what the accountant assumes).
        target_epsilon, delta: the privacy budget; ``delta`` None means 1 / n_examples.
        max_per_sample_grad_norm: each example's gradient is clipped to this L2 norm.
        accountant: ``"rdp"`` or ``"prv"``.
        scheduler: stepped after every optimiser step (warmup and decay), built on ``optimizer``.
        bf16: run forward and backward under bf16 autocast; per-sample gradients are clipped, summed and
            noised in the parameters' dtype (fp32) all the same.

    Returns:
        The guarantee spent (the accountant's ε at ``delta`` after the steps actually taken).
    """
    device = device or torch.device("cpu")
    n = len(encoded)
    labels = torch.as_tensor(targets, dtype=torch.long)
    lengths = encoded.lengths
    if len(labels) != n:
        raise ValueError("DP-SGD expects one target per training example (no long-text chunks)")
    delta = delta if delta is not None else 1.0 / n
    sample_rate = min(1.0, expected_batch_size / n)
    noise = get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta, sample_rate=sample_rate,
                                 steps=total_steps, accountant=accountant)
    wrapped = wrap_for_per_sample_gradients(model)
    dp_optimizer = DPOptimizer(optimizer, noise_multiplier=noise, max_grad_norm=max_per_sample_grad_norm,
                               expected_batch_size=expected_batch_size, loss_reduction="mean")
    spent = _accountant(accountant)
    generator = np.random.default_rng(seed)
    torch.manual_seed(seed)
    log.info("DP-SGD: %d steps, sample rate %.5f, noise multiplier %.3f for ε=%.2f at δ=%.2e", total_steps,
             sample_rate, noise, target_epsilon, delta)
    wrapped.train()
    start, running_loss = time.perf_counter(), 0.0
    try:
        for step in range(1, total_steps + 1):
            batch_indices = np.flatnonzero(generator.random(n) < sample_rate)
            running_loss += _private_step(wrapped, dp_optimizer, encoded, lengths, labels, batch_indices, pad_id,
                                          device, bf16)
            spent.step(noise_multiplier=noise, sample_rate=sample_rate)
            if scheduler is not None:
                scheduler.step()
            if logger is not None and step % log_every_steps == 0:
                logger.log("train", step, {"loss": running_loss / log_every_steps,
                                           "learning_rate": dp_optimizer.param_groups[0]["lr"],
                                           "epsilon": spent.get_epsilon(delta),
                                           "steps_per_second": step / (time.perf_counter() - start)})
                running_loss = 0.0
    finally:
        wrapped.to_standard_module()  # remove Opacus' hooks: ``model`` is a plain module again
    return PrivacySpent(epsilon=float(spent.get_epsilon(delta)), delta=delta, noise_multiplier=float(noise),
                        sample_rate=sample_rate, expected_batch_size=expected_batch_size, steps=total_steps,
                        max_per_sample_grad_norm=max_per_sample_grad_norm, accountant=accountant,
                        training_examples=n)


def _private_step(model: GradSampleModule, optimizer: DPOptimizer, encoded: EncodedTexts, lengths: np.ndarray,
                  labels: torch.Tensor, indices: np.ndarray, pad_id: int, device: torch.device,
                  bf16: bool) -> float:
    """One DP-SGD step over a Poisson batch, in physical micro-batches; returns the batch's mean loss.

    An empty Poisson batch (probability (1 − q)^n: about e^-256 at an expected batch of 256) is skipped.
    """
    indices = indices[np.argsort(lengths[indices], kind="stable")]  # similar lengths share padding
    chunks = [indices[i:i + PHYSICAL_BATCH_SIZE] for i in range(0, len(indices), PHYSICAL_BATCH_SIZE)]
    if not chunks:
        return 0.0
    total = 0.0
    for position, chunk in enumerate(chunks):
        batch = {k: v.to(device) for k, v in collate(encoded, chunk, pad_id).items()}
        with autocast(bf16, device):
            logits = model(**batch).logits.float()
        loss = nn.functional.cross_entropy(logits, labels[chunk].to(device))
        loss.backward()
        total += float(loss.detach()) * len(chunk)
        if position < len(chunks) - 1:
            optimizer.signal_skip_step(do_skip=True)  # accumulate clipped per-sample gradients, no noise yet
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return total / len(indices)


def train_private_run(model: nn.Module, encoded: EncodedTexts, targets: np.ndarray, *, pad_id: int,
                      optimizer: torch.optim.Optimizer, scheduler, total_steps: int, config: RunConfig,
                      run_dir: Path, logger: TrainingLogger, device: torch.device, bf16: bool) -> TrainerState:
    """The recipe's DP-SGD path: train, write ``privacy.json`` and the final weights as the run's best checkpoint.

    Returns the trainer state the rest of the recipe reads (steps, examples seen).

    Raises:
        ConfigError: an option combination DP-SGD does not support.
    """
    check_private_training(config.method, config.data.multi_label, config.data.long_text)
    privacy, options = config.privacy, config.train
    spent = train_private(model, encoded, targets, pad_id=pad_id, optimizer=optimizer, total_steps=total_steps,
                          expected_batch_size=options.batch_size * options.gradient_accumulation_steps,
                          target_epsilon=privacy.target_epsilon, delta=privacy.delta,
                          max_per_sample_grad_norm=privacy.max_per_sample_grad_norm, accountant=privacy.accountant,
                          seed=options.seed, scheduler=scheduler, device=device, bf16=bf16, logger=logger,
                          log_every_steps=options.log_every_steps)
    layout = RunLayout(Path(run_dir))
    write_json(layout.root / "privacy.json", spent.to_json())
    save_trainable(model, layout.best / "trainable.safetensors")
    log.info("DP-SGD done: (ε = %.2f, δ = %.2e) spent", spent.epsilon, spent.delta)
    return TrainerState(step=total_steps, examples_seen=round(total_steps * spent.sample_rate * len(encoded)),
                        finished=True)


def check_private_training(method: str, multi_label: bool, long_text: str) -> None:
    """Raise a ConfigError for option combinations DP-SGD does not support."""
    if method == "full":
        raise ConfigError("`privacy.dp_sgd=true` with `method=full`: per-sample gradients of every weight of a "
                          "transformer do not fit in memory",
                          "use `method=lora` (or `method=head_only`) with DP-SGD")
    if multi_label or long_text == "chunk":
        raise ConfigError("DP-SGD supports single-label classification of truncated texts",
                          "set `data.multi_label=false` and `data.long_text=truncate`")
