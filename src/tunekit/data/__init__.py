"""Data: reading, validation, label ids, splits, tokenisation and batching."""
