"""Which weights a compressed model was made from: a fingerprint of the run's model files and labels, kept in
compression.json, so a run retrained after `tunekit compress` is not served from its old int8 model."""

from __future__ import annotations

import hashlib

from tunekit.run.layout import RunLayout

CHUNK = 1 << 20


def source_fingerprint(layout: RunLayout) -> str:
    """SHA-256 over the run's weight files (``model/*.safetensors``, names included) and ``labels.json``."""
    digest = hashlib.sha256()
    for path in [*sorted(layout.model.glob("*.safetensors")), layout.labels]:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as file:
            while block := file.read(CHUNK):
                digest.update(block)
    return digest.hexdigest()
