"""Padding-free training: the same logits at real tokens and the same gradients as the padded forward, for every
method and task, with the projections really running on packed rows."""

from __future__ import annotations

import pytest
import torch
from transformers.models.bert.modeling_bert import eager_attention_forward

from method_cases import LABELS, SEQ_LEN, TASKS, method_config, random_batch, random_targets
from tunekit.inference import fused_linear
from tunekit.inference.bf16_weights import bf16_copy
from tunekit.methods import METHODS
from tunekit.run.model_io import build_model
from tunekit.training import padding_free
from tunekit.training.activation_checkpointing import checkpoint_layers
from tunekit.training.fast_dropout import FastDropout
from tunekit.training.padding_free import (
    attention_function,
    fast_dropout_attention,
    inference_attention,
    padding_free_encoders,
)


def _model(tiny_model_dir, method: str = "full", task: str = "classification"):
    config = method_config(tiny_model_dir, method, task)
    torch.manual_seed(0)
    model, _ = build_model(config, LABELS[task])
    for parameter in model.parameters():  # zero-initialised adapter halves would hide a wrong branch
        if parameter.requires_grad:
            parameter.data.add_(0.05 * torch.randn_like(parameter))
    return model.train()


def _step(model, task: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits (zero at padding for token tasks) and the trainable parameters' gradients of one padded batch."""
    model.zero_grad()
    batch = random_batch(3)
    logits = model(**batch).logits
    targets = random_targets(task, 3)
    if task == "token_classification":
        real = batch["attention_mask"].bool()
        logits = logits[:, -SEQ_LEN:] * real[..., None]
        targets = targets.masked_fill(~real, -100)
    torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).backward()
    return logits.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize(("method", "task"), [(m, t) for m in METHODS for t in TASKS])
def test_same_logits_and_gradients_as_the_padded_forward(tiny_model_dir, method, task):
    model = _model(tiny_model_dir, method, task)
    padded = _step(model, task)
    with padding_free_encoders(model):
        packed = _step(model, task)
    torch.testing.assert_close(packed[0], padded[0], rtol=1e-4, atol=1e-5)
    assert len(packed[1]) == len(padded[1]) > 0
    for a, b in zip(packed[1], padded[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def _rows_seen_by_the_first_feed_forward(model) -> list[int]:
    rows = []
    dense = next(m for name, m in model.named_modules() if name.endswith("layer.0.intermediate.dense"))
    handle = dense.register_forward_hook(lambda module, args, output: rows.append(args[0].reshape(-1, 32).shape[0]))
    with torch.no_grad():
        model(**random_batch(3))
    handle.remove()
    return rows


@pytest.fixture
def exact_rows(monkeypatch):
    """No rounding of the packed row count: the rows a layer sees are exactly the real tokens."""
    monkeypatch.setattr(padding_free, "PACKED_ROWS_MULTIPLE", 1)


@pytest.mark.parametrize("method", ["full", "lora", "houlsby"])
def test_layers_run_on_real_tokens_only_in_training_and_evaluation(tiny_model_dir, method, exact_rows):
    model = _model(tiny_model_dir, method)
    real_tokens = int(random_batch(3)["attention_mask"].sum())
    assert real_tokens < 4 * SEQ_LEN
    with padding_free_encoders(model) as encoders:
        assert len(encoders) == 1
        assert _rows_seen_by_the_first_feed_forward(model) == [real_tokens]
        model.eval()
        assert _rows_seen_by_the_first_feed_forward(model) == [real_tokens]
    model.train()
    assert _rows_seen_by_the_first_feed_forward(model) == [4 * SEQ_LEN]  # the encoder's own forward is back
    assert "forward" not in vars(encoders[0])


def test_an_inner_block_leaves_the_outer_blocks_forward_in_place(tiny_model_dir, exact_rows):
    model = _model(tiny_model_dir)
    real_tokens = int(random_batch(3)["attention_mask"].sum())
    with padding_free_encoders(model) as outer:
        with padding_free_encoders(model) as inner:  # an evaluation inside the training loop
            assert inner == []
        assert _rows_seen_by_the_first_feed_forward(model) == [real_tokens]
    assert "forward" not in vars(outer[0])


@pytest.mark.parametrize(("method", "task"), [(m, t) for m in ("full", "lora", "houlsby") for t in TASKS])
def test_evaluation_gives_the_padded_forwards_logits(tiny_model_dir, method, task):
    model = _model(tiny_model_dir, method, task).eval()
    batch = random_batch(3)
    real = batch["attention_mask"].bool()
    with torch.inference_mode():
        padded = model(**batch).logits
        with padding_free_encoders(model):
            packed = model(**batch).logits
    if task == "token_classification":  # padding positions differ (zeros packed), and no one reads them
        padded, packed = padded[real], packed[real]
    torch.testing.assert_close(packed, padded, rtol=1e-4, atol=1e-5)


def _bf16_inference_logits(model, batch) -> torch.Tensor:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16), padding_free_encoders(model):
        return model(**batch).logits.float()


@pytest.mark.skipif(not fused_linear.onednn_linear_available(), reason="needs torch's oneDNN fused linear operator")
def test_bf16_inference_fuses_the_feed_forward_and_residual_adds_into_the_matmuls(tiny_model_dir, monkeypatch):
    model = bf16_copy(_model(tiny_model_dir))
    batch = random_batch(3)
    fused_calls = []
    for name in ("linear", "linear_activation", "linear_add"):
        original = getattr(fused_linear, name)
        monkeypatch.setattr(fused_linear, name, lambda *a, _f=original, _n=name: fused_calls.append(_n) or _f(*a))
    fused = _bf16_inference_logits(model, batch)
    assert fused_calls.count("linear_add") == 2 * 2 and fused_calls.count("linear_activation") == 2  # per layer
    monkeypatch.setattr(padding_free, "_fused_inference", lambda layer, packed: False)
    torch.testing.assert_close(fused, _bf16_inference_logits(model, batch), rtol=0.02, atol=0.02)


def test_fused_inference_only_without_autograd_and_on_stock_layers(tiny_model_dir):
    model = bf16_copy(_model(tiny_model_dir))
    layer = model.bert.encoder.layer[0]
    packed = torch.randn(8, layer.attention.output.dense.out_features, dtype=torch.bfloat16)
    with torch.inference_mode():
        assert padding_free._fused_inference(layer, packed) == fused_linear.onednn_linear_available()
        assert not padding_free._fused_inference(layer, packed.float())
        layer.output.register_forward_hook(lambda *args: None)
        assert not padding_free._fused_inference(layer, packed)  # a hook the fused call would skip
    assert not padding_free._fused_inference(model.bert.encoder.layer[1], packed)  # autograd on: explanations


def test_inference_attention_equals_the_eager_attention():
    generator = torch.Generator().manual_seed(0)
    query, key, value = (torch.randn(2, 3, 5, 4, generator=generator) for _ in range(3))
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    mask[0, :, :, 3:] = False
    module = torch.nn.Module().eval()
    got, _ = inference_attention(module, query, key, value, mask, dropout=0.0, scaling=0.5)
    additive = torch.zeros(mask.shape).masked_fill(~mask, torch.finfo(torch.float32).min)
    expected, _ = eager_attention_forward(module, query, key, value, additive, scaling=0.5)
    torch.testing.assert_close(got, expected)


def test_plain_query_key_value_projections_run_as_one_matmul(tiny_model_dir, exact_rows, monkeypatch):
    model = _model(tiny_model_dir)
    attention = model.bert.encoder.layer[0].attention.self
    projections = {id(attention.query), id(attention.key), id(attention.value)}
    calls = []
    linear_forward = torch.nn.Linear.forward

    def counted(module, x):
        calls.extend([module] if id(module) in projections else [])
        return linear_forward(module, x)

    monkeypatch.setattr(torch.nn.Linear, "forward", counted)
    with padding_free_encoders(model):
        model(**random_batch(3))
    assert calls == []  # their weights went into one fused matmul; the equality test above covers its result
    model(**random_batch(3))
    assert len(calls) == 3
    hooked = []
    attention.query.register_forward_hook(lambda module, args, output: hooked.append(args[0].shape[0]))
    with padding_free_encoders(model):
        model(**random_batch(3))
    assert hooked == [int(random_batch(3)["attention_mask"].sum())]  # a hooked projection runs on its own, packed


@pytest.mark.parametrize(("method", "task"), [("full", "classification"), ("lora", "classification"),
                                           ("full", "token_classification")])
def test_a_batch_without_padding_runs_packed_with_the_same_results(tiny_model_dir, method, task, monkeypatch):
    model = _model(tiny_model_dir, method, task)
    batch = random_batch(3)
    batch["input_ids"], batch["attention_mask"] = batch["input_ids"][1::2], batch["attention_mask"][1::2]
    assert batch["attention_mask"].all()  # the model passes the encoder no mask at all

    def step() -> tuple[torch.Tensor, list[torch.Tensor]]:
        model.zero_grad()
        logits = model(**batch).logits
        torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                          random_targets(task, 3, 2).reshape(-1)).backward()
        return logits.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    own = step()
    packed_layers = []

    def counted(name: str):
        run = getattr(padding_free, name)
        return lambda *args: packed_layers.append(name) or run(*args)

    for name in ("_packed_layer", "_first_token_layer"):  # a classifier's last layer is the second
        monkeypatch.setattr(padding_free, name, counted(name))
    with padding_free_encoders(model):
        packed = step()
    last = "_packed_layer" if task == "token_classification" else "_first_token_layer"
    assert packed_layers == ["_packed_layer", last]
    torch.testing.assert_close(packed[0], own[0], rtol=1e-4, atol=1e-5)
    assert len(packed[1]) == len(own[1]) > 0
    for a, b in zip(packed[1], own[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def _rows_seen_by_each_feed_forward(model, task: str = "classification", train: bool = True) -> list[int]:
    rows = []
    handles = [module.register_forward_hook(lambda module, args, output: rows.append(args[0].shape[0]))
               for name, module in model.named_modules() if name.endswith("intermediate.dense")]
    with torch.set_grad_enabled(train):
        model(**random_batch(3))
    for handle in handles:
        handle.remove()
    return rows


@pytest.mark.parametrize("method", ["full", "lora", "houlsby"])
def test_a_sequence_classifiers_last_layer_runs_on_first_tokens_only(tiny_model_dir, method, exact_rows):
    model = _model(tiny_model_dir, method)
    real_tokens = int(random_batch(3)["attention_mask"].sum())
    with padding_free_encoders(model):
        assert _rows_seen_by_each_feed_forward(model) == [real_tokens, 4]  # 4 examples
        assert _rows_seen_by_each_feed_forward(model.eval(), train=False) == [real_tokens, 4]
        bert = next(m for m in model.modules() if type(m).__name__ == "BertModel")
        with torch.no_grad():  # the encoder called on its own: every position is computed
            hidden = bert(**random_batch(3)).last_hidden_state
        assert hidden[:, 1:].abs().sum() > 0
    token_model = _model(tiny_model_dir, method, "token_classification")
    with padding_free_encoders(token_model):  # a tagger reads every token
        assert _rows_seen_by_each_feed_forward(token_model) == [real_tokens, real_tokens]


def test_a_hook_on_the_encoder_keeps_the_last_layer_whole(tiny_model_dir, exact_rows):
    model = _model(tiny_model_dir)
    outputs = []
    model.bert.encoder.register_forward_hook(lambda module, args, output: outputs.append(output.last_hidden_state))
    real_tokens = int(random_batch(3)["attention_mask"].sum())
    with padding_free_encoders(model):
        assert _rows_seen_by_each_feed_forward(model) == [real_tokens, real_tokens]
    assert outputs[-1][:, 1:].abs().sum() > 0


def test_hidden_states_asked_for_in_the_config_keep_the_encoders_own_forward(tiny_model_dir):
    model = _model(tiny_model_dir)
    model.config.output_hidden_states = True
    with padding_free_encoders(model):
        assert len(model(**random_batch(3)).hidden_states) == 3  # embeddings and both layers


def test_row_count_is_rounded_up_with_padding_positions_and_results_are_unchanged(tiny_model_dir, monkeypatch):
    model = _model(tiny_model_dir, "full", "token_classification")
    padded = _step(model, "token_classification")
    monkeypatch.setattr(padding_free, "PACKED_ROWS_MULTIPLE", 5)  # 42 real tokens of 48 positions: 45 rows
    assert int(random_batch(3)["attention_mask"].sum()) == 42
    with padding_free_encoders(model):
        assert _rows_seen_by_the_first_feed_forward(model) == [45]
        packed = _step(model, "token_classification")
    torch.testing.assert_close(packed[0], padded[0], rtol=1e-4, atol=1e-5)
    for a, b in zip(packed[1], padded[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_checkpointed_layers_run_packed_and_are_recomputed_in_backward(tiny_model_dir, exact_rows):
    model = _model(tiny_model_dir)
    padded = _step(model, "classification")
    checkpoint_layers(model)
    real_tokens = int(random_batch(3)["attention_mask"].sum())
    with padding_free_encoders(model):
        rows = []
        dense = model.bert.encoder.layer[0].intermediate.dense
        handle = dense.register_forward_hook(lambda module, args, output: rows.append(args[0].shape[0]))
        packed = _step(model, "classification")
        handle.remove()
    assert rows == [real_tokens, real_tokens]  # the forward, and its recomputation in backward
    for a, b in zip(packed[1], padded[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def _attention_inputs(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=generator) for _ in range(3))
    real = torch.tensor([[True] * 5, [True, True, True, False, False]])
    return q, k, v, real[:, None, None, :].expand(2, 1, 5, 5)


def test_fast_dropout_attention_without_dropout_is_sdpa():
    q, k, v, mask = _attention_inputs()
    module = torch.nn.Module()
    module.dropout = FastDropout(0.0)
    ours, _ = fast_dropout_attention(module, q, k, v, mask, dropout=0.0, scaling=0.5)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.5).transpose(1, 2)
    torch.testing.assert_close(ours, expected)


def test_attention_without_a_mask_attends_everywhere():
    q, k, v, _ = _attention_inputs()
    module = torch.nn.Module()
    module.dropout = FastDropout(0.0)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=0.5).transpose(1, 2)
    torch.testing.assert_close(fast_dropout_attention(module, q, k, v, None, dropout=0.0, scaling=0.5)[0], expected)
    with torch.inference_mode():
        torch.testing.assert_close(inference_attention(module, q, k, v, None, dropout=0.0, scaling=0.5)[0], expected)


def test_fast_dropout_attention_drops_probabilities_and_never_reads_padding():
    q, k, v, mask = _attention_inputs()
    module = torch.nn.Module()
    module.dropout = FastDropout(0.5)
    torch.manual_seed(3)
    dropped, _ = fast_dropout_attention(module, q, k, v, mask, dropout=0.5, scaling=0.5)
    garbage_k, garbage_v = k.clone(), v.clone()
    garbage_k[1, :, 3:], garbage_v[1, :, 3:] = 1e4, -1e4  # padded keys and values of the second example
    torch.manual_seed(3)
    again, _ = fast_dropout_attention(module, q, garbage_k, garbage_v, mask, dropout=0.5, scaling=0.5)
    torch.testing.assert_close(again, dropped)
    undropped, _ = fast_dropout_attention(module.eval(), q, k, v, mask, dropout=0.0, scaling=0.5)
    assert not torch.allclose(dropped, undropped)


def test_training_layers_with_fast_attention_dropout_use_it(tiny_model_dir):
    model = _model(tiny_model_dir)
    attention = model.bert.encoder.layer[0].attention.self
    query = torch.zeros(1, 2, 3, 16)
    assert attention_function(attention, query) is not fast_dropout_attention  # nn.Dropout(p=0) in the tiny model
    attention.dropout = FastDropout(0.1)
    assert attention_function(attention, query) is fast_dropout_attention
    assert attention_function(attention.eval(), query) is not fast_dropout_attention


def test_bf16_cpu_inference_attends_explicitly_and_anything_else_through_the_models_own(tiny_model_dir):
    attention = _model(tiny_model_dir).bert.encoder.layer[0].attention.self.eval()
    query = torch.zeros(1, 2, 3, 16, dtype=torch.bfloat16)
    with torch.inference_mode():
        assert attention_function(attention, query) is inference_attention
        assert attention_function(attention, query.float()) is not inference_attention
    assert attention_function(attention, query) is not inference_attention  # autograd on (explanations)


def test_a_frozen_models_inference_reuses_its_concatenated_projections(tiny_model_dir):
    model = _model(tiny_model_dir).eval()
    batch = random_batch(3)
    calls = []
    concatenate = torch.cat

    def counted(tensors, *args, **kwargs):
        if any(isinstance(tensor, torch.nn.Parameter) for tensor in tensors):
            calls.append(len(tensors))  # a concatenation of weights or biases
        return concatenate(tensors, *args, **kwargs)

    with padding_free_encoders(model, frozen=True), torch.no_grad():
        first = model(**batch).logits
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "cat", counted)
        with padding_free_encoders(model, frozen=True), torch.no_grad():
            again = model(**batch).logits
        assert calls == []  # every layer's kept concatenation reused, from the block before too
        with padding_free_encoders(model), torch.no_grad():
            model(**batch)  # not frozen (an evaluation inside training): concatenated on every call
        assert calls and set(calls) <= {2, 3}
    torch.testing.assert_close(again, first)
    with padding_free_encoders(model, frozen=True), torch.no_grad():
        model.bert.encoder.layer[0].attention.self.key.weight.mul_(0.5)  # changed in place: a stale copy would hide it
        changed = model(**batch).logits
    with torch.no_grad():
        expected = model(**batch).logits  # the encoders' own forward, on the changed weight
    torch.testing.assert_close(changed, expected, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(changed, first)
