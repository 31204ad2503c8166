"""atomic_path: all-or-nothing writes of files and directories."""

from __future__ import annotations

import pytest

from tunekit.atomic import atomic_path, read_json, write_json, write_text


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_file_is_created_and_replaced(tmp_path):
    target = tmp_path / "nested" / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent
        assert not tmp.exists()
        tmp.write_text("first")
        assert not target.exists()  # nothing visible until the body finishes
    assert target.read_text() == "first"
    with atomic_path(target) as tmp:
        tmp.write_text("second")
        assert target.read_text() == "first"
    assert target.read_text() == "second"
    assert leftovers(target.parent) == []


def test_directory_is_created_and_replaced(tmp_path):
    target = tmp_path / "model"
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "weights.bin").write_bytes(b"v1")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.txt").write_text("a")
    assert (target / "weights.bin").read_bytes() == b"v1"
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "weights.bin").write_bytes(b"v2")
    assert sorted(p.name for p in target.iterdir()) == ["weights.bin"]  # replaced whole, not merged
    assert (target / "weights.bin").read_bytes() == b"v2"
    assert leftovers(tmp_path) == []


def test_failed_file_write_keeps_previous_content(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"good": 1})
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_path(target) as tmp:
            tmp.write_text("{half")
            raise RuntimeError("interrupted")
    assert read_json(target) == {"good": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_failed_directory_write_keeps_previous_content(tmp_path):
    target = tmp_path / "checkpoint"
    target.mkdir()
    (target / "state.pt").write_bytes(b"good")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "state.pt").write_bytes(b"partial")
            raise KeyboardInterrupt
    assert sorted(p.name for p in target.iterdir()) == ["state.pt"]
    assert (target / "state.pt").read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_failed_first_write_creates_nothing(tmp_path):
    target = tmp_path / "new.txt"
    with pytest.raises(ValueError):
        with atomic_path(target) as tmp:
            tmp.write_text("x")
            raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_json_round_trip(tmp_path):
    data = {"classes": ["a", "b", 3], "nested": {"x": [1.5, None, True]}, "unicode": "café ✓"}
    target = tmp_path / "m.json"
    write_json(target, data)
    assert read_json(target) == data
    assert target.read_text(encoding="utf-8").endswith("\n")
    write_text(target, "[1, 2]")
    assert read_json(target) == [1, 2]


def test_write_json_stringifies_unknown_types(tmp_path):
    target = tmp_path / "p.json"
    write_json(target, {"path": tmp_path})
    assert read_json(target) == {"path": str(tmp_path)}


def test_a_crash_between_the_two_renames_recovers_the_old_directory(tmp_path):
    target = tmp_path / "model"
    old = tmp_path / ".model.old"
    old.mkdir()
    (old / "weights").write_text("good")  # the state a crash after `target -> .old` leaves behind
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            raise RuntimeError("interrupted again")
    assert (target / "weights").read_text() == "good"
