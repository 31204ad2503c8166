"""A BERT sequence classifier whose last encoder layer is computed for the first token only, for export.

The classifier's head reads one position of the last layer: the first token's, through BERT's pooler. Its keys
and values need every token, but its query, attention output, feed-forward block and LayerNorms need only that
one, so the last layer of MiniLM-L6 does ~1/L of its linear work on an L-token text, ~14% of the whole model's on
SST-2. tunekit's torch inference does the same inside its padding-free layers
(`tunekit.training.padding_free`); an exported graph does it through this module. Logits equal the whole model's up
to float rounding (tested against it).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.models.bert.modeling_bert import BertForSequenceClassification


def first_token_applies(model: nn.Module) -> bool:
    """Whether ``model`` is a stock BERT sequence classifier whose pooler reads the first token (not a subclass
    that could compute something else, not a decoder)."""
    return (type(model) is BertForSequenceClassification and model.bert.pooler is not None
            and not model.config.is_decoder and len(model.bert.encoder.layer) > 0)


class FirstTokenBertClassifier(nn.Module):
    """``model``'s logits from ``(input_ids, attention_mask, token_type_ids)``, its last layer on the first token."""

    def __init__(self, model: BertForSequenceClassification) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        bert = self.model.bert
        hidden = bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        # additive mask (batch, 1, 1, length): 0 at real tokens, the dtype's minimum at padding
        mask = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        *layers, last = bert.encoder.layer
        for layer in layers:
            hidden = layer(hidden, attention_mask=mask)
        first = _first_token_attention(last, hidden, mask)
        first = last.feed_forward_chunk(first)
        return self.model.classifier(self.model.dropout(bert.pooler(first)))


def _first_token_attention(layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``layer``'s attention sub-layer (self-attention, output projection, residual LayerNorm) for the first
    token, attending to every token of ``hidden`` ``(batch, length, width)``; ``(batch, 1, width)``."""
    attention = layer.attention.self
    batch, length, _ = hidden.shape
    heads, size = attention.num_attention_heads, attention.attention_head_size

    def split(x: torch.Tensor, rows: int) -> torch.Tensor:
        return x.view(batch, rows, heads, size).transpose(1, 2)

    query = split(attention.query(hidden[:, :1]), 1)
    key, value = split(attention.key(hidden), length), split(attention.value(hidden), length)
    context = nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask,
                                                         scale=attention.scaling)
    context = context.transpose(1, 2).reshape(batch, 1, heads * size)
    return layer.attention.output(context, hidden[:, :1])
