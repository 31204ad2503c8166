"""Padding-free training and inference through BERT encoders: every projection, feed-forward layer, LayerNorm
and dropout of the encoder runs on the batch's real tokens only, packed into one ``(tokens, hidden)`` matrix;
only the attention scores are computed on the padded ``(batch, heads, length, head_dim)`` layout, through the
model's own attention function and mask.

Length-grouped batches of SST-2 padded to a multiple of 8 are still 23% padding (13.4 real tokens per example,
17.3 padded); every linear layer's cost is proportional to its rows, so on a CPU, where the matmuls are most of
a step, skipping those rows is most of that 23%. The packed layer calls the layer's own submodules (the query,
key and value projections, ``attention.output``, ``intermediate`` and ``output``), so whatever a method wrapped
them with (LoRA, IA3, bottleneck adapters) runs as before; outputs at real tokens are those of the padded
forward, and padding positions come out as zeros instead of the values computed there, which no loss reads.

A sequence classifier (``BertForSequenceClassification``) reads only the first token's output of the last
layer (BERT's pooler). Inside the block its forward tells the encoder so, and the last layer computes keys and
values for every row (the first token attends to them) but its query, attention output, feed-forward and
LayerNorms for the first tokens only; the rest of ``last_hidden_state`` comes out as zeros. The logits and
gradients are the whole layer's (tested). MiniLM-L6 on SST-2 does ~13% less linear-layer work a step. Not when a
hook on the BERT model, the encoder or the last layer could read the other positions, and not when the encoder
is called on its own.

The packed row count is rounded up to a multiple of `PACKED_ROWS_MULTIPLE` with a few padding positions, which
are computed like real tokens (masked as keys, their outputs unread): the matmul library builds and caches a
kernel per distinct shape, and an exact count per batch means hundreds of shapes (420 MB more peak memory in the
speed benchmark). When attention dropout is tunekit's `FastDropout` (``train.fast_dropout``, on by default on
CPUs), the layers attend explicitly and drop attention probabilities through it: SDPA with dropout would draw
its mask with ATen's Bernoulli sampler, the cost `FastDropout` exists to avoid. Query, key and value projections
that are plain ``nn.Linear`` layers (full fine-tuning, BitFit, bottleneck adapters) run as one matmul over their
concatenated weights: one call, one weight cast and one unpack instead of three.

The packed forward is used for training and inference batches through the standard BERT encoder, padded or not: a
batch without padding (the model passes no mask; about half of length-grouped SST-2 batches) runs every position as
a row, a view with no copy, so it too gets the fused projections and `FastDropout` attention. Anything else (prefix
tuning's cached keys, cross-attention, feed-forward chunking, an attention mask that is not a plain padding mask)
goes through the encoder's own forward. Layers wrapped by `checkpoint_layers`
(``train.gradient_checkpointing``) run packed and are recomputed in backward as before. At inference (no
autograd) on bf16 CPU tensors, which a loaded run's `bf16_copy` gives, stock layers fuse their GELU and residual
adds into the matmuls (`tunekit.inference.fused_linear`) and attend with `inference_attention`.

Measured with ``bench/speed_ab.py padding-free`` and ``bench/speed_ab_inference.py``: docs/benchmarks.md, "Speed".
"""

from __future__ import annotations

import contextlib
import types
import weakref
from collections.abc import Callable, Iterator

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPastAndCrossAttentions
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.bert.modeling_bert import (
    BertEncoder,
    BertForSequenceClassification,
    BertIntermediate,
    BertLayer,
    BertOutput,
    BertSelfOutput,
    eager_attention_forward,
)

from tunekit.inference import fused_linear
from tunekit.training.activation_checkpointing import is_checkpointed, run_checkpointed
from tunekit.training.fast_dropout import FastDropout

PACKED_ROWS_MULTIPLE = 16  # packed row counts rounded up to this: few distinct matmul shapes (see the docstring)
FUSE_QKV = True  # plain query/key/value projections (no adapter, no hooks) as one matmul; bench/speed_ab.py turns
# it off to measure it
# encoder arguments that, when set, need the encoder's own forward (cached keys, cross-attention, captured outputs)
NEEDS_OWN_FORWARD = ("past_key_values", "encoder_attention_mask", "use_cache", "output_attentions",
                     "output_hidden_states")


@contextlib.contextmanager
def padding_free_encoders(model: nn.Module, frozen: bool = False) -> Iterator[list[BertEncoder]]:
    """Inside the block, every BERT encoder in ``model`` runs padding-free (an instance attribute: parameters,
    state dicts and saved weights are unchanged); yields the encoders changed. Blocks nest: an inner block (an
    evaluation inside the training loop's) leaves the encoders as the outer one set them. ``frozen``: the weights
    will not change any more (a loaded run's predictor), so the layers keep their concatenated projection weights
    from one call, and one block, to the next (`_concatenated`)."""
    encoders = [module for module in model.modules() if type(module) is BertEncoder and "forward" not in vars(module)]
    classifiers = [module for module in model.modules() if type(module) is BertForSequenceClassification
                   and "forward" not in vars(module) and module.bert.encoder in encoders]
    for encoder in encoders:
        encoder.forward = types.MethodType(padding_free_forward, encoder)
    for classifier in classifiers:
        classifier.forward = types.MethodType(_first_token_classifier_forward, classifier)
    frozen_linears = [linear for module in model.modules() if type(module) is BertLayer
                      for linear in (module.attention.self.query, module.attention.self.key)
                      if linear not in _FROZEN] if frozen else []
    _FROZEN.update(frozen_linears)
    try:
        yield encoders
    finally:
        for module in (*encoders, *classifiers):
            del module.forward
        for linear in frozen_linears:
            _FROZEN.discard(linear)


def _first_token_classifier_forward(self: BertForSequenceClassification, *args, **kwargs):
    """``BertForSequenceClassification.forward``, whose head reads only the first token's output (BERT's pooler),
    with its encoder told so for the call: the last layer then computes that token alone (see the module
    docstring). Not when anything could read the other positions: hooks on the encoder or its model, or hidden
    states asked for."""
    encoder = self.bert.encoder
    encoder.first_token_only = not any(_hooked(module) for module in (self.bert, encoder, encoder.layer[-1]))
    try:
        return BertForSequenceClassification.forward(self, *args, **kwargs)
    finally:
        del encoder.first_token_only


def padding_free_forward(self: BertEncoder, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                         encoder_hidden_states: torch.Tensor | None = None, *args,
                         **kwargs) -> BaseModelOutputWithPastAndCrossAttentions:
    """``BertEncoder.forward`` with the packed layers when the batch allows it (see the module docstring)."""
    real = _real_tokens(self, hidden_states, attention_mask, encoder_hidden_states, args, kwargs)
    if real is None:
        return BertEncoder.forward(self, hidden_states, attention_mask, encoder_hidden_states, *args, **kwargs)
    batch, length, width = hidden_states.shape
    index = None if real.all() else _packed_positions(real)

    def unpack(packed: torch.Tensor) -> torch.Tensor:
        """``(tokens, features)`` → ``(batch, length, features)``, zeros at padding."""
        if index is None:  # every position is a row: packing is a view
            return packed.view(batch, length, -1)
        padded = packed.new_zeros(batch * length, packed.shape[-1]).index_copy(0, index, packed)
        return padded.view(batch, length, -1)

    attention_kwargs = {k: v for k, v in kwargs.items() if k == "position_ids"}
    packed = _pack(hidden_states, index)
    first_token_only = getattr(self, "first_token_only", False) and bool(real[:, 0].all())
    layers = list(self.layer)
    for layer in layers[:-1] if first_token_only else layers:
        arguments = (layer, packed, unpack, index, attention_mask, attention_kwargs, (batch, length))
        packed = (run_checkpointed(layer, _packed_layer, *arguments) if is_checkpointed(layer)
                  else _packed_layer(*arguments))
    if not first_token_only:
        return BaseModelOutputWithPastAndCrossAttentions(last_hidden_state=unpack(packed))
    counts = real.sum(dim=1)
    arguments = (layers[-1], packed, unpack, counts.cumsum(0) - counts, attention_mask, attention_kwargs,
                 (batch, length))
    firsts = (run_checkpointed(layers[-1], _first_token_layer, *arguments) if is_checkpointed(layers[-1])
              else _first_token_layer(*arguments))
    last_hidden_state = firsts.new_zeros(batch, length, width)  # only position 0 is computed, and only it is read
    last_hidden_state[:, 0] = firsts
    return BaseModelOutputWithPastAndCrossAttentions(last_hidden_state=last_hidden_state)


def _packed_positions(real: torch.Tensor) -> torch.Tensor:
    """The flat positions of ``real`` ``(batch, length)`` that run as rows: the real tokens, then as many padding
    positions as round their count up to `PACKED_ROWS_MULTIPLE`."""
    index = real.reshape(-1).nonzero().squeeze(1)
    rounding = -len(index) % PACKED_ROWS_MULTIPLE
    if rounding:  # a few padding positions ride along (masked as keys, their outputs unread)
        index = torch.cat([index, (~real).reshape(-1).nonzero().squeeze(1)[:rounding]])
    return index


def _pack(padded: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
    """``(batch, length, features)`` → ``(rows, features)``: the positions in ``index``, or all of them (a view)."""
    flat = padded.reshape(-1, padded.shape[-1])
    return flat if index is None else flat.index_select(0, index)


def _real_tokens(encoder: BertEncoder, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None,
                 encoder_hidden_states: torch.Tensor | None, args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The ``(batch, length)`` bool mask of real tokens when the packed forward applies, else None."""
    if encoder_hidden_states is not None or args:
        return None
    if encoder.config.output_hidden_states or encoder.config.output_attentions:
        return None  # transformers collects them through hooks on the layers and attention modules
    if set(kwargs) - {"position_ids", *NEEDS_OWN_FORWARD}:
        return None
    if any(kwargs.get(k) is not None and kwargs.get(k) is not False for k in NEEDS_OWN_FORWARD):
        return None
    if any(("forward" in vars(layer) and not is_checkpointed(layer)) or type(layer) is not BertLayer
           or layer.chunk_size_feed_forward or layer.is_decoder for layer in encoder.layer):
        return None  # replaced or chunked layers keep their own forward
    batch, length = hidden_states.shape[:2]
    if attention_mask is None:  # the model passes none when no example is padded: every token is real
        return torch.ones(batch, length, dtype=torch.bool, device=hidden_states.device)
    if attention_mask.dtype != torch.bool or attention_mask.shape != (batch, 1, length, length):
        return None
    real = attention_mask[:, 0, 0, :]
    if not torch.equal(attention_mask, real[:, None, None, :].expand_as(attention_mask)):
        return None  # not a padding mask
    return real


def _packed_layer(layer: BertLayer, packed: torch.Tensor, unpack: Callable[[torch.Tensor], torch.Tensor],
                  index: torch.Tensor | None, attention_mask: torch.Tensor | None, attention_kwargs: dict,
                  padded_shape: tuple[int, int]) -> torch.Tensor:
    """One ``BertLayer`` on ``(tokens, hidden)`` rows; attention scores on the padded ``(batch, length)`` layout
    (``attention_mask`` None: no padding)."""
    attention = layer.attention.self
    batch, length = padded_shape

    shape = (batch, length, attention.num_attention_heads, attention.attention_head_size)
    projections = (attention.query, attention.key, attention.value)
    fused_ops = _fused_inference(layer, packed)
    if FUSE_QKV and all(_plain_linear(p) for p in projections):
        # one (tokens, 3·hidden) matmul instead of three: a third of the calls, casts and unpacks
        project = fused_linear.linear if fused_ops else nn.functional.linear
        fused = unpack(project(packed, *_concatenated(projections))).view(batch, length, 3, *shape[2:])
        query, key, value = (fused[:, :, i].transpose(1, 2) for i in range(3))
    else:
        query, key, value = (unpack(p(packed)).view(shape).transpose(1, 2) for p in projections)
    context = _attend(attention, query, key, value, attention_mask, attention_kwargs)
    return _after_attention(layer, _pack(context.reshape(batch, length, -1), index), packed, fused_ops)


def _first_token_layer(layer: BertLayer, packed: torch.Tensor, unpack: Callable[[torch.Tensor], torch.Tensor],
                       first_rows: torch.Tensor, attention_mask: torch.Tensor | None, attention_kwargs: dict,
                       padded_shape: tuple[int, int]) -> torch.Tensor:
    """The last ``BertLayer`` when only each example's first token is read: keys and values for every row of
    ``packed``, everything else for the ``first_rows`` ``(batch,)`` alone; returns ``(batch, hidden)``."""
    attention = layer.attention.self
    batch, length = padded_shape
    shape = (batch, length, attention.num_attention_heads, attention.attention_head_size)
    fused_ops = _fused_inference(layer, packed)
    firsts = packed.index_select(0, first_rows)
    if FUSE_QKV and all(_plain_linear(p) for p in (attention.query, attention.key, attention.value)):
        project = fused_linear.linear if fused_ops else nn.functional.linear
        key_value = unpack(project(packed, *_concatenated((attention.key, attention.value))))
        key, value = (key_value.view(batch, length, 2, *shape[2:])[:, :, i].transpose(1, 2) for i in range(2))
        query = project(firsts, attention.query.weight, attention.query.bias)
    else:
        key, value = (unpack(p(packed)).view(shape).transpose(1, 2) for p in (attention.key, attention.value))
        query = attention.query(firsts)
    query = query.view(batch, 1, *shape[2:]).transpose(1, 2)
    first_query_mask = None if attention_mask is None else attention_mask[:, :, :1]
    context = _attend(attention, query, key, value, first_query_mask, attention_kwargs)
    return _after_attention(layer, context.reshape(batch, -1), firsts, fused_ops)


def _concatenated(linears: tuple[nn.Linear, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The weights and the biases of ``linears``, concatenated along their outputs. In a frozen model's block
    (`padding_free_encoders`), without autograd, the concatenation is kept and reused: at batch 1 a fresh
    concatenation of MiniLM's query, key and value weights costs about as much as their matmul. Otherwise (training,
    and evaluation inside it, where optimisers write weights in ways a version counter does not always see) it is
    made on every call. A kept one is also remade when a weight is replaced or changed in place through autograd's
    view of it (its version counter)."""
    tensors = [tensor for linear in linears for tensor in (linear.weight, linear.bias)]
    if linears[0] not in _FROZEN or torch.is_grad_enabled() or any(tensor.is_inference() for tensor in tensors):
        return torch.cat(tensors[0::2]), torch.cat(tensors[1::2])
    key = tuple((id(tensor), tensor.data_ptr(), tensor._version) for tensor in tensors)
    kept = _CONCATENATED.get(linears[0])
    if kept is None or kept[0] != key:
        kept = key, torch.cat(tensors[0::2]), torch.cat(tensors[1::2])
        _CONCATENATED[linears[0]] = kept
    return kept[1], kept[2]


# first linear → (identity of the tensors concatenated, weight, bias); entries go with their modules
_CONCATENATED: weakref.WeakKeyDictionary[nn.Module, tuple] = weakref.WeakKeyDictionary()
_FROZEN: weakref.WeakSet[nn.Module] = weakref.WeakSet()  # first linears of frozen models' layers, inside their blocks


def _attend(attention: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
            attention_mask: torch.Tensor | None, attention_kwargs: dict) -> torch.Tensor:
    """``attention``'s scaled dot-product attention through `attention_function`, with its dropout in training;
    returns ``(batch, queries, heads, head_dim)``."""
    context, _ = attention_function(attention, query)(
        attention, query, key, value, attention_mask, dropout=attention.dropout.p if attention.training else 0.0,
        scaling=attention.scaling, **attention_kwargs)
    return context


def _after_attention(layer: BertLayer, context: torch.Tensor, residual: torch.Tensor, fused_ops: bool) -> torch.Tensor:
    """The layer's attention output projection, residual LayerNorm and feed-forward sub-layers on ``context``
    ``(rows, hidden)`` with the layer input's ``residual`` rows."""
    if fused_ops:  # the eval-mode sub-layers (dropout is the identity) with their GELU and residual adds fused
        hidden = layer.attention.output.LayerNorm(fused_linear.linear_add(context, layer.attention.output.dense,
                                                                          residual))
        intermediate = fused_linear.linear_activation(hidden, layer.intermediate.dense,
                                                      layer.intermediate.intermediate_act_fn)
        return layer.output.LayerNorm(fused_linear.linear_add(intermediate, layer.output.dense, hidden))
    hidden = layer.attention.output(context, residual)
    return layer.output(layer.intermediate(hidden), hidden)


def _fused_inference(layer: BertLayer, packed: torch.Tensor) -> bool:
    """Whether ``layer`` can run on ``packed`` with `fused_linear`'s operators: in eval mode without autograd, bf16
    on a CPU, its sub-layers the stock BERT modules with nothing attached."""
    parts = (layer.attention.output, layer.intermediate, layer.output)
    if layer.training or [type(part) for part in parts] != [BertSelfOutput, BertIntermediate, BertOutput]:
        return False
    if any(_attached(part) for part in parts) or any(type(part.LayerNorm) is not nn.LayerNorm
                                                       for part in (parts[0], parts[2])):
        return False
    attention = layer.attention.self
    linears = (attention.query, attention.key, attention.value, *(part.dense for part in parts))
    return all(_plain_linear(linear) for linear in linears) and fused_linear.fusable(packed, *linears)


def _plain_linear(module: nn.Module) -> bool:
    """An ``nn.Linear`` with a bias and nothing attached that fusing would skip."""
    return type(module) is nn.Linear and module.bias is not None and not _attached(module)


def _attached(module: nn.Module) -> bool:
    """Whether anything a fused call would skip is attached to ``module`` (hooks, a replaced forward)."""
    return _hooked(module) or "forward" in vars(module)


def _hooked(module: nn.Module) -> bool:
    """Whether a hook, the module's own or a global one, could see ``module``'s inputs or outputs."""
    return any((module._forward_hooks, module._forward_pre_hooks, module._backward_hooks, module._backward_pre_hooks,
                nn.modules.module._global_forward_hooks, nn.modules.module._global_forward_pre_hooks))


def attention_function(attention: nn.Module, query: torch.Tensor) -> Callable:
    """The attention function for ``attention`` on ``query`` ``(batch, heads, length, head_dim)``: in training with
    a `FastDropout` as attention dropout, explicit attention that drops probabilities through it (SDPA would draw
    its mask with ATen's slow Bernoulli sampler); at inference on bf16 CPU tensors `inference_attention`, faster
    than SDPA's CPU kernel at the short lengths of sorted batches (``bench/speed_ab_inference.py
    inference-attention``); otherwise the model's own."""
    dropout = attention.dropout
    if attention.training and isinstance(dropout, FastDropout) and dropout.p > 0:
        return fast_dropout_attention
    if not attention.training and not torch.is_grad_enabled() and query.device.type == "cpu" and (
            query.dtype == torch.bfloat16):
        return inference_attention
    return ALL_ATTENTION_FUNCTIONS.get_interface(attention.config._attn_implementation, eager_attention_forward)


def fast_dropout_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                           attention_mask: torch.Tensor | None, dropout: float, scaling: float,
                           **kwargs) -> tuple[torch.Tensor, None]:
    """``softmax(q·kᵀ·scaling, masked) → module.dropout → ·v`` on ``(batch, heads, length, head_dim)`` inputs with a
    bool ``attention_mask`` (True: attend; None: attend everywhere); returns ``(batch, length, heads, head_dim)``
    like the HF functions."""
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
    probabilities = module.dropout(torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype))
    return torch.matmul(probabilities, value).transpose(1, 2).contiguous(), None


def inference_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attention_mask: torch.Tensor | None, dropout: float, scaling: float,
                        **kwargs) -> tuple[torch.Tensor, None]:
    """``softmax(q·kᵀ·scaling, masked)·v`` without dropout or autograd, the scores scaled and masked in place and
    normalised in the inputs' dtype (the CPU softmax kernel accumulates bf16 in fp32); inputs and output as
    `fast_dropout_attention`."""
    scores = torch.matmul(query, key.transpose(2, 3)).mul_(scaling)
    if attention_mask is not None:
        scores.masked_fill_(~attention_mask, torch.finfo(scores.dtype).min)
    return torch.matmul(torch.softmax(scores, dim=-1), value).transpose(1, 2).contiguous(), None
