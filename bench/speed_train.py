"""One training system of the speed benchmark, run in its own process (so its peak memory is its own).

    python bench/speed_train.py SYSTEM PARAMS_JSON OUT_JSON

SYSTEM is ``tunekit``, ``trainer-seeds`` (Hugging Face Trainer as the seeds use it: ``padding="max_length"``,
max_length 128, fp32) or ``trainer-best`` (Trainer at its best settings for this CPU: dynamic padding to a
multiple of 8, length-grouped sampling, fused AdamW, and bf16 autocast where the CPU runs bf16 natively; on a CPU
without AVX512-BF16 or AMX, bf16 matmuls are emulated ~100× slower than fp32, so its best setting there is fp32,
the precision tunekit's ``train.bf16: auto`` picks too). All three start from the same weights
(``tunekit.run.model_io.build_model`` with the same seed, LoRA applied the same way) and train on the same
examples with the same batch size, epochs, learning rate, warmup, weight decay and clipping.

On an AMD CPU with AVX2, tunekit runs torch's MKL on its AVX2 path (`tunekit.mkl_on_amd`) and the baselines on
MKL as shipped, when run by bench/speed_benchmarks.py (which turns tunekit's automatic switch off for itself).
Run on its own, this script imports tunekit, which gives every system the AVX2 path.

The training clock runs only while training: every validation pass (and tunekit's checkpoint written with it)
is timed and subtracted, so samples/s is comparable across systems, and each evaluation is stamped with the
training time spent so far (for time to target accuracy).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from speed_flops import TokenCounter, training_flops
from tunekit.config.schema import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig
from tunekit.data.examples import LabeledTexts
from tunekit.data.prepare import DataSplits, load_labeled, make_splits
from tunekit.mkl_on_amd import use_mkl_avx2_on_amd
from tunekit.training.precision import cpu_has_native_bf16, resolve_bf16
from tunekit.training.schedule import resolve_warmup_steps

SST2 = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "sst2"
SST2_DATA = DataConfig(text_column="sentence", label_column="label")


def sst2_dev(n_dev: int | None = None) -> LabeledTexts:
    """The first ``n_dev`` examples of GLUE dev (all 872 by default)."""
    dev = load_labeled(str(SST2 / "dev.tsv"), SST2_DATA)
    return dev.subset(range(min(n_dev or len(dev), len(dev))))


def load_sst2(n_train: int, n_dev: int | None, seed: int) -> DataSplits:
    """``n_train`` examples drawn (seeded) from GLUE train for training, GLUE dev for validation."""
    train = load_labeled(str(SST2 / "train.tsv"), SST2_DATA)
    picked = np.random.default_rng(seed).permutation(len(train))[:n_train]
    return make_splits(train.subset(sorted(picked.tolist())), sst2_dev(n_dev), None, SST2_DATA)


def run_config(p: dict) -> RunConfig:
    """The tunekit config every system's settings are derived from."""
    per_epoch = math.ceil(p["n_train"] / p["batch_size"])
    return RunConfig(
        data=SST2_DATA, model=ModelConfig(name=p["model"]), method=p["method"],
        train=TrainConfig(
            epochs=p["epochs"], batch_size=p["batch_size"], learning_rate=p["learning_rate"],
            warmup_steps=resolve_warmup_steps(per_epoch * p["epochs"], 0.06, None), seed=p["seed"],
            early_stopping_patience=None, evaluations_per_epoch=max(1, per_epoch // p["eval_every"]),
            tensorboard=False, progress_bar=False, **p.get("train_overrides", {})),
        eval=EvalConfig(batch_size=128))


class TrainingClock:
    """Training seconds with evaluation pauses taken out, and (training seconds, accuracy) per evaluation."""

    def __init__(self) -> None:
        self.started = self.stopped = 0.0
        self.paused = 0.0
        self.evaluations: list[dict] = []

    def start(self) -> None:
        self.started = time.perf_counter()

    def stop(self) -> None:
        self.stopped = time.perf_counter()

    def training_seconds(self, at: float | None = None) -> float:
        return (at or self.stopped or time.perf_counter()) - self.started - self.paused

    def record(self, step: int, accuracy: float, eval_started: float) -> None:
        self.evaluations.append({"step": step, "training_seconds": round(self.training_seconds(eval_started), 3),
                                 "dev_accuracy": accuracy})


def train_tunekit(p: dict, splits: DataSplits) -> tuple[torch.nn.Module, TrainingClock, TokenCounter]:
    """The real recipe, ``train_classifier``, with its loop and its evaluation step timed from outside."""
    import tunekit.recipes.train_classifier as recipe
    import tunekit.training.loop as loop

    clock, counters = TrainingClock(), []
    original_loop, original_evaluate = recipe.train_loop, loop._evaluate_and_checkpoint

    def timed_loop(model, *args, **kwargs):
        counters.append(TokenCounter(model))
        clock.start()
        try:
            return original_loop(model, *args, **kwargs)
        finally:
            clock.stop()

    def timed_evaluation(model, evaluate, early_stopping, state, *args):
        started = time.perf_counter()

        def recorded() -> dict:
            metrics = evaluate()
            clock.record(state.step, metrics["accuracy"], started)
            return metrics

        original_evaluate(model, recorded, early_stopping, state, *args)
        clock.paused += time.perf_counter() - started

    recipe.train_loop, loop._evaluate_and_checkpoint = timed_loop, timed_evaluation
    models = []
    original_build = recipe.build_model

    def keep_model(*args):
        model, model_dir = original_build(*args)
        models.append(model)
        return model, model_dir

    recipe.build_model = keep_model
    with tempfile.TemporaryDirectory() as run_dir:
        recipe.train_classifier(run_config(p), Path(run_dir) / "run", splits=splits, overwrite=True)
    return models[0], clock, counters[0]


def train_hf_trainer(p: dict, splits: DataSplits, best: bool) -> tuple[torch.nn.Module, TrainingClock, TokenCounter]:
    """transformers.Trainer on the same model and examples: the seeds' recipe or its best CPU settings."""
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    from tunekit.run.model_io import build_model, load_tokenizer

    config = run_config(p)
    model, model_dir = build_model(config, splits.label_map)
    tokenizer = load_tokenizer(model_dir)

    def dataset(split, padding: dict) -> list[dict]:
        encoded = tokenizer(split.texts, truncation=True, max_length=128, **padding)
        labels = splits.label_map.encode(split.labels)
        return [{**{k: v[i] for k, v in encoded.items()}, "labels": int(labels[i])} for i in range(len(split))]

    clock = TrainingClock()

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            clock.start()

        def on_step_end(self, args, state, control, **kwargs):
            self.step_ended = time.perf_counter()
            if state.global_step == state.max_steps:
                control.should_evaluate = True  # the final model is always evaluated, as tunekit's is

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            clock.record(state.global_step, metrics["eval_accuracy"], self.step_ended)
            clock.paused += time.perf_counter() - self.step_ended

        def on_train_end(self, args, state, control, **kwargs):
            clock.stop()

    options = config.train
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="speed-trainer-"), use_cpu=True, report_to="none", save_strategy="no",
        disable_tqdm=True, seed=p["seed"], data_seed=p["seed"], num_train_epochs=p["epochs"],
        per_device_train_batch_size=p["batch_size"], per_device_eval_batch_size=64,
        learning_rate=options.learning_rate, weight_decay=options.weight_decay, warmup_steps=options.warmup_steps,
        lr_scheduler_type="linear", max_grad_norm=options.max_grad_norm, logging_steps=options.log_every_steps,
        eval_strategy="steps", eval_steps=p["eval_every"],
        bf16=best and cpu_has_native_bf16(), train_sampling_strategy="group_by_length" if best else "random")
    trainer = Trainer(
        model=model, args=args, train_dataset=dataset(splits.train, {} if best else {"padding": "max_length"}),
        # evaluation is untimed: dynamic padding there only saves wall time (masked padding changes no prediction)
        eval_dataset=dataset(splits.validation, {}), processing_class=tokenizer, callbacks=[Clock()],
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if best else None),
        compute_metrics=lambda pred: {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())})
    counter = TokenCounter(model)
    trainer.train()
    return model, clock, counter


def summarise(model: torch.nn.Module, clock: TrainingClock, counter: TokenCounter, p: dict, bf16: bool) -> dict:
    seconds = clock.training_seconds()
    reached = [e for e in clock.evaluations if e["dev_accuracy"] >= p["target_accuracy"]]
    return {
        "train_seconds": round(seconds, 2),
        "train_examples": counter.examples,
        "samples_per_second": counter.examples / seconds,
        "real_tokens_per_second": counter.real / seconds,
        "padded_tokens_per_second": counter.padded / seconds,
        "padding_fraction": 1 - counter.real / counter.padded,
        "model_tflops_per_second": training_flops(model, counter.real, counter.squared_lengths,
                                                  counter.examples) / seconds / 1e12,
        "final_dev_accuracy": clock.evaluations[-1]["dev_accuracy"],
        "time_to_target_seconds": reached[0]["training_seconds"] if reached else None,
        "evaluations": clock.evaluations,
        "threads": torch.get_num_threads(),
        "precision": "bf16" if bf16 else "fp32",  # what its matmuls ran in: MFU is against that precision's peak
    }


def mkl_as_for(tunekit_user: bool) -> str:
    """Let MKL take its AVX2 path on an AMD CPU in this process, as `import tunekit` does for a user
    (`tunekit.mkl_on_amd`), where ``tunekit_user``; else leave it as shipped. Call before any tensor operation.
    Returns what was done, for the results."""
    return use_mkl_avx2_on_amd().value if tunekit_user else "as shipped"


def main() -> None:
    system, p, out = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
    mkl_path = mkl_as_for(system == "tunekit" or p.get("mkl_avx2_on_amd", False))
    splits = load_sst2(p["n_train"], p.get("n_dev"), p["seed"])
    if system == "tunekit":
        trained, bf16 = train_tunekit(p, splits), resolve_bf16(run_config(p).train.bf16, torch.device("cpu"))
    elif system in ("trainer-seeds", "trainer-best"):
        trained = train_hf_trainer(p, splits, best=system == "trainer-best")
        bf16 = system == "trainer-best" and cpu_has_native_bf16()
    else:
        raise SystemExit(f"unknown system {system}")
    out.write_text(json.dumps({**summarise(*trained, p, bf16), "mkl_avx2_on_amd": mkl_path}, indent=2))


if __name__ == "__main__":
    main()
