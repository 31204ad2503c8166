"""Where a training step's time goes: collate, forward, backward, clipping, optimiser, zero_grad.

MiniLM-L6 on the speed benchmark's SST-2 examples, batch 16, bf16 autocast, tunekit's batches and collate,
120 timed steps after 10 warm-up steps. A diagnostic next to bench/speed_benchmarks.py, not a comparison.

    python bench/speed_step_profile.py fused full 2 fast 120  # MODE METHOD THREADS [DROPOUT] [STEPS]

MODE is foreach, fused or fused-compile (the AdamW implementation, and torch.compile of the model). DROPOUT is
``torch`` (nn.Dropout, the default) or ``fast`` (tunekit's FastDropout, as `train.fast_dropout` does).
STEPS (default 120) is the number of timed steps.
"""

import sys
import time

import torch
import torch.nn.functional as F

from speed_train import load_sst2, run_config
from tunekit.data.batching import collate
from tunekit.data.tokenize import encode_texts
from tunekit.run.model_io import build_model, load_tokenizer
from tunekit.training.fast_dropout import use_fast_dropout
from tunekit.training.loop import epoch_batches


def main() -> None:
    mode, method = sys.argv[1], sys.argv[2]
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else torch.get_num_threads())
    p = {"model": "minilm-l6", "batch_size": 16, "seed": 0, "method": method, "learning_rate": 1e-4,
         "n_train": 4000, "epochs": 1, "eval_every": 50, "target_accuracy": 0.85}
    splits = load_sst2(4000, 64, 0)
    model, model_dir = build_model(run_config(p), splits.label_map)
    dropout = sys.argv[4] if len(sys.argv) > 4 else "torch"
    if dropout == "fast":
        use_fast_dropout(model)
    tokenizer = load_tokenizer(model_dir)
    encoded = encode_texts(tokenizer, splits.train.texts, max_seq_len=128)
    targets = torch.from_numpy(splits.label_map.encode(splits.train.labels))
    trainable = [q for q in model.parameters() if q.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, **({"foreach": True} if mode == "foreach" else {"fused": True}))
    forward = torch.compile(model, dynamic=True) if mode == "fused-compile" else model
    groups = epoch_batches(encoded.lengths, 16, 1, 0, 0)
    model.train()
    phases = dict.fromkeys(("collate", "forward", "backward", "clip", "optimizer", "zero_grad"), 0.0)

    def step(indices, record: bool) -> None:
        marks = [time.perf_counter()]
        batch = collate(encoded, indices, tokenizer.pad_token_id)
        marks.append(time.perf_counter())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = forward(**batch).logits
        loss = F.cross_entropy(logits.float(), targets[indices])
        marks.append(time.perf_counter())
        loss.backward()
        marks.append(time.perf_counter())
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        marks.append(time.perf_counter())
        optimizer.step()
        marks.append(time.perf_counter())
        optimizer.zero_grad(set_to_none=True)
        marks.append(time.perf_counter())
        if record:
            for name, start, end in zip(phases, marks, marks[1:], strict=False):
                phases[name] += end - start

    started = time.perf_counter()
    for group in groups[:10]:
        step(group[0], False)
    warmup = time.perf_counter() - started
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 120
    started = time.perf_counter()
    for group in groups[10:10 + n]:
        step(group[0], True)
    total = time.perf_counter() - started
    print(f"{mode} {method} threads {torch.get_num_threads()} dropout {dropout}: warm-up 10 steps {warmup:.1f} s; "
          f"steady {16 * n / total:.1f} samples/s ({n} steps);",
          {k: f"{1000 * v / n:.1f} ms" for k, v in phases.items()}, flush=True)


if __name__ == "__main__":
    main()
