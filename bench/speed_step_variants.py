"""Training-step variants tried for issue 4, each against tunekit's own step, on the speed benchmark's data.

    flock /tmp/tunekit-heavy.lock python bench/speed_step_variants.py METHOD VARIANT [STEPS]

METHOD is ``full`` or ``lora``. VARIANT:

- ``tunekit``: the step tunekit's loop ran when these were measured (fast dropout, bf16 autocast, fused AdamW,
  clipping at 1.0), before the changes measured by bench/speed_ab.py;
- ``compile``: the model under ``torch.compile(dynamic=True)`` with torch's dropout (numpy-drawn masks would
  break the graph);
- ``sdpa-no-attention-dropout``: attention-probability dropout set to 0, so SDPA takes its fused CPU kernel
  instead of the math path (an upper bound for any faster attention dropout; changes the model's training);
- ``eager-attention``: attention as explicit matmul + softmax with tunekit's fast dropout on the probabilities;
- ``bf16-frozen-weights``: LoRA's frozen base weights stored in bf16, so autocast does not cast them per call;
- ``skip-unneeded-clip``: the gradient norm first, and the clipping multiply only when it exceeds 1.0.

Prints samples/s over STEPS steps (default 200) after 10 warm-up steps (compilation happens there). One
process per variant; run the variants one after another on an idle machine and alternate them: this CPU's
speed drifts by ±10% between minutes (docs/benchmarks.md).
"""

from __future__ import annotations

import sys
import time

import torch

from speed_train import load_sst2, run_config
from tunekit.data.batching import collate, length_grouped_batches
from tunekit.data.tokenize import encode_texts
from tunekit.run.model_io import build_model, load_tokenizer
from tunekit.training.fast_dropout import use_fast_dropout
from tunekit.training.optimizer import build_optimizer

VARIANTS = ["tunekit", "compile", "sdpa-no-attention-dropout", "eager-attention", "bf16-frozen-weights",
            "skip-unneeded-clip"]
LEARNING_RATES = {"full": 1e-4, "lora": 1e-3}


def eager_attention_with_fast_dropout(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kw):
    """``(batch, heads, seq, head_dim)`` inputs; dropout through the layer's own (fast) dropout module."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if not (module.training and dropout > 0):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kw)
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    probabilities = module.dropout(torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype))
    return torch.matmul(probabilities, value).transpose(1, 2).contiguous(), None


def prepare(model: torch.nn.Module, variant: str) -> None:
    if variant != "compile":
        use_fast_dropout(model)
    if variant == "sdpa-no-attention-dropout":
        for module in model.modules():
            if type(module).__name__ == "BertSelfAttention":
                module.dropout.p = 0.0
    if variant == "eager-attention":
        from transformers import AttentionInterface

        AttentionInterface.register("tunekit_eager", eager_attention_with_fast_dropout)
        for module in model.modules():
            if hasattr(getattr(module, "config", None), "_attn_implementation"):
                module.config._attn_implementation = "tunekit_eager"
    if variant == "bf16-frozen-weights":
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and not module.weight.requires_grad:
                module.to(torch.bfloat16)


def clip(trainable: list[torch.Tensor], variant: str) -> None:
    if variant != "skip-unneeded-clip":
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        return
    norm = torch.nn.utils.get_total_norm([p.grad for p in trainable if p.grad is not None])
    if norm > 1.0:  # a CPU tensor: comparing it costs no device sync
        torch.nn.utils.clip_grads_with_norm_(trainable, 1.0, norm)


def main() -> None:
    method, variant = sys.argv[1], sys.argv[2]
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    if method not in LEARNING_RATES or variant not in VARIANTS:
        raise SystemExit(f"usage: speed_step_variants.py full|lora {'|'.join(VARIANTS)} [STEPS]")
    params = {"model": "minilm-l6", "batch_size": 16, "seed": 0, "method": method,
              "learning_rate": LEARNING_RATES[method], "n_train": 4000, "epochs": 1, "eval_every": 50}
    splits = load_sst2(params["n_train"], 64, params["seed"])
    model, model_dir = build_model(run_config(params), splits.label_map)
    tokenizer = load_tokenizer(model_dir)
    encoded = encode_texts(tokenizer, list(splits.train.texts), max_seq_len=128)
    labels = torch.tensor(splits.label_map.encode(splits.train.labels))
    prepare(model, variant)
    optimizer = build_optimizer(model, params["learning_rate"], 0.01)
    trainable = [p for p in model.parameters() if p.requires_grad]
    forward = torch.compile(model, dynamic=True) if variant == "compile" else model
    batches = length_grouped_batches(encoded.lengths, params["batch_size"], torch.Generator().manual_seed(0))
    model.train()

    def step(indices) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = forward(**collate(encoded, indices, tokenizer.pad_token_id)).logits
        torch.nn.functional.cross_entropy(logits.float(), labels[indices]).backward()
        clip(trainable, variant)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    started = time.perf_counter()
    for indices in batches[:10]:
        step(indices)
    warm_up_s = time.perf_counter() - started
    started, samples = time.perf_counter(), 0
    for indices in batches[10:10 + steps]:
        step(indices)
        samples += len(indices)
    print(f"{method} {variant}: {samples / (time.perf_counter() - started):.1f} samples/s over {steps} steps "
          f"(10 warm-up steps {warm_up_s:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
