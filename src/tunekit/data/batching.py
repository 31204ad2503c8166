"""Length-grouped batch order and dynamic padding."""

from __future__ import annotations

import numpy as np
import torch

from tunekit.data.tokenize import EncodedTexts

PAD_MULTIPLE = 8  # padded lengths are multiples of 8: fewer distinct shapes and aligned bf16 GEMMs


def length_grouped_batches(lengths: np.ndarray, batch_size: int, generator: torch.Generator,
                           group_factor: int = 50) -> list[np.ndarray]:
    """A shuffled batch order in which each batch holds examples of similar length.

    Examples are shuffled, cut into groups of ``group_factor`` batches, sorted by length inside each
    group, cut into batches, and the batches shuffled. Deterministic given ``generator``'s state.
    """
    order = torch.randperm(len(lengths), generator=generator).numpy()
    group = batch_size * group_factor
    batches = []
    for start in range(0, len(order), group):
        chunk = order[start:start + group]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches in descending length order, for inference (least padding, no shuffling)."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def collate(encoded: EncodedTexts, indices: np.ndarray, pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the examples at ``indices`` to their longest length (rounded up to `PAD_MULTIPLE`).

    Returns:
        ``input_ids`` and ``attention_mask`` (and ``token_type_ids`` when used), each ``(batch, seq_len)``.
    """
    rows = [encoded.input_ids[i] for i in indices]
    longest = max(len(r) for r in rows)
    seq_len = -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE
    input_ids = np.full((len(rows), seq_len), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), seq_len), dtype=np.int64)
    for r, ids in enumerate(rows):
        input_ids[r, :len(ids)] = ids
        mask[r, :len(ids)] = 1
    batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
    if encoded.token_type_ids is not None:
        types = np.zeros((len(rows), seq_len), dtype=np.int64)
        for r, i in enumerate(indices):
            types[r, :len(encoded.token_type_ids[i])] = encoded.token_type_ids[i]
        batch["token_type_ids"] = torch.from_numpy(types)
    return batch
