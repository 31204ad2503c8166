"""FastDropout: nn.Dropout's semantics (keep rate, inverted scaling, gradient, eval identity), a mask stream that
follows torch's RNG, and the swap into a model that changes neither weights nor eval outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file
from torch import nn
from transformers import BertForSequenceClassification

from tiny_fixtures import Interrupt, tiny_run_config
from tunekit.training.fast_dropout import FastDropout, use_fast_dropout


def _dropout_outputs(p: float, seed: int, shape=(64, 48), dtype=torch.float32) -> torch.Tensor:
    torch.manual_seed(seed)
    return FastDropout(p)(torch.ones(shape, dtype=dtype))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate_is_one_minus_p_and_the_mean_is_preserved(p):
    out = _dropout_outputs(p, seed=0, shape=(1000, 1000))
    kept = (out != 0).double().mean().item()
    assert kept == pytest.approx(1 - p, abs=5 * ((p * (1 - p)) / 1e6) ** 0.5)  # 5 standard errors
    quantised_p = round(p * 65536) / 65536  # the scale uses the drop rate actually applied: the mean is exact
    assert out[out != 0].unique().tolist() == pytest.approx([1 / (1 - quantised_p)], rel=1e-7)
    assert abs(quantised_p - p) <= 0.5 / 65536
    assert out.double().mean().item() == pytest.approx(1.0, abs=5 * (p / (1 - p) / 1e6) ** 0.5)


def test_eval_mode_and_p_zero_are_the_identity():
    x = torch.randn(8, 16)
    assert FastDropout(0.3).eval()(x) is x
    assert FastDropout(0.0)(x) is x
    assert torch.equal(FastDropout(1.0)(x), torch.zeros_like(x))


def test_gradient_is_the_mask_times_the_scale():
    x = torch.randn(32, 24, requires_grad=True)
    upstream = torch.randn(32, 24)
    torch.manual_seed(3)
    out = FastDropout(0.25)(x)
    out.backward(upstream)
    mask = (out != 0).float()
    reference = x.detach().clone().requires_grad_(True)
    (reference * mask / 0.75).backward(upstream)
    torch.testing.assert_close(out, x.detach() * mask / 0.75)
    torch.testing.assert_close(x.grad, reference.grad)
    assert x.grad[mask == 0].abs().sum() == 0


def test_same_torch_seed_gives_the_same_masks_and_another_seed_other_masks():
    assert torch.equal(_dropout_outputs(0.1, seed=5), _dropout_outputs(0.1, seed=5))
    assert not torch.equal(_dropout_outputs(0.1, seed=5), _dropout_outputs(0.1, seed=6))
    torch.manual_seed(5)
    dropout, x = FastDropout(0.1), torch.ones(64, 48)
    assert not torch.equal(dropout(x), dropout(x))  # consecutive calls draw fresh masks


def test_restoring_torch_rng_state_replays_the_masks():
    dropout, x = FastDropout(0.2), torch.ones(40, 40)
    state = torch.get_rng_state()
    first = dropout(x)
    torch.set_rng_state(state)
    assert torch.equal(dropout(x), first)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_keep_their_dtype_and_scale_like_nn_dropout(dtype):
    out = _dropout_outputs(0.1, seed=0, dtype=dtype)
    assert out.dtype == dtype
    torch.manual_seed(0)
    reference = nn.Dropout(0.1)(torch.ones(64, 48, dtype=dtype))  # the scale rounded to the input's dtype
    assert out[out != 0].unique().tolist() == reference[reference != 0].unique().tolist()


def test_non_float_input_is_refused():
    with pytest.raises(TypeError, match="floating-point"):
        FastDropout(0.1)(torch.ones(4, dtype=torch.int64))


def _tiny_bert_with_dropout_and_lora(model_dir: Path) -> nn.Module:
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(model_dir, num_labels=2, hidden_dropout_prob=0.1,
                                                          attention_probs_dropout_prob=0.1)
    return get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.2,
                                            target_modules=["query", "value", "dense"]))


def test_swap_replaces_every_dropout_with_p_and_keeps_weights_and_eval_outputs(tiny_model_dir):
    model = _tiny_bert_with_dropout_and_lora(tiny_model_dir).eval()
    before = {name: type(m).__name__ for name, m in model.named_modules() if isinstance(m, nn.Dropout) and m.p > 0}
    lora_dropouts = [name for name in before if ".lora_dropout." in name]
    assert len(lora_dropouts) >= 6 and len(before) > len(lora_dropouts)
    ids = torch.randint(5, 30, (3, 10))
    with torch.no_grad():
        expected = model(input_ids=ids).logits
    state = {name: t.clone() for name, t in model.state_dict().items()}

    assert use_fast_dropout(model) == len(before)

    modules = dict(model.named_modules())
    assert all(isinstance(modules[name], FastDropout) for name in before)
    assert not any(type(m) is nn.Dropout and m.p > 0 for m in model.modules())
    assert all(modules[name].p == pytest.approx(0.2) for name in lora_dropouts)
    assert not any(modules[name].training for name in before)  # the swap keeps each module's mode
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, expected)
    assert model.state_dict().keys() == state.keys()
    assert all(torch.equal(t, state[name]) for name, t in model.state_dict().items())
    assert use_fast_dropout(model) == 0


def test_swapped_model_trains_with_dropout_on(tiny_model_dir):
    model = _tiny_bert_with_dropout_and_lora(tiny_model_dir)
    use_fast_dropout(model)
    model.train()
    ids = torch.randint(5, 30, (3, 10))
    first, second = model(input_ids=ids).logits, model(input_ids=ids).logits
    assert not torch.equal(first, second)  # dropout is active
    (first.sum() + second.sum()).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return {f"{path.name}/{name}": t for path in sorted((run_dir / "model").glob("*.safetensors"))
            for name, t in load_file(str(path)).items()}


def test_lora_training_with_fast_dropout_resumes_bit_identical(tiny_model_dir, sentiment_file, tmp_path,
                                                                monkeypatch):
    from tunekit.recipes.train_classifier import train_classifier
    from tunekit.training import session

    swapped = []
    monkeypatch.setattr(session, "use_fast_dropout", lambda model: swapped.append(use_fast_dropout(model)))

    def config(fast_dropout: bool):
        return tiny_run_config(tiny_model_dir, data={"train": str(sentiment_file)}, method="lora",
                               train={"epochs": 1, "checkpoint_every_steps": 3, "fast_dropout": fast_dropout})

    uninterrupted = train_classifier(config(True), tmp_path / "uninterrupted")
    assert swapped and swapped[0] > 0  # the LoRA dropouts (the tiny BERT's own have p = 0)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(config(True), tmp_path / "resumed", on_step_end=Interrupt(5))
    resumed = train_classifier(config(True), tmp_path / "resumed", resume=True)
    expected = _weights(uninterrupted)
    assert expected and _weights(resumed).keys() == expected.keys()
    assert all(torch.equal(t, expected[name]) for name, t in _weights(resumed).items())

    calls = len(swapped)
    plain = train_classifier(config(False), tmp_path / "plain")
    assert len(swapped) == calls  # the option turns the swap off
    assert not all(torch.equal(t, expected[name]) for name, t in _weights(plain).items())
