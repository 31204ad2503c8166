"""The API key store: shown once, stored hashed, scoped, revocable, private file."""

from __future__ import annotations

import hashlib
import sqlite3
import stat

import pytest

from tunekit.errors import TunekitError
from tunekit.serve.keys import KeyStore, default_store_path


@pytest.fixture
def store(tmp_path):
    store = KeyStore(tmp_path / "sub" / "keys.sqlite")
    yield store
    store.close()


def test_a_created_key_verifies_and_only_its_hash_is_stored(store):
    key = store.create("billing", "predict", rate_limit_per_minute=10)
    record = store.verify(key)
    assert (record.name, record.scope, record.rate_limit_per_minute, record.active) == ("billing", "predict", 10, True)
    assert key.startswith(f"tk_{record.prefix}_") and len(key) > 40
    raw = store.path.read_bytes() + b"".join(p.read_bytes() for p in store.path.parent.glob("keys.sqlite-wal"))
    assert key.encode() not in raw
    rows = sqlite3.connect(store.path).execute("SELECT key_sha256 FROM api_keys").fetchall()
    assert rows == [(hashlib.sha256(key.encode()).hexdigest(),)]


def test_the_store_file_is_private(store):
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


@pytest.mark.parametrize("bad", ["", "tk_", "tk_x_y", "Bearer abc", "tk_deadbeef_secret", "xx_a_b"])
def test_unknown_or_malformed_keys_do_not_verify(store, bad):
    store.create("someone", "admin")
    assert store.verify(bad) is None


def test_a_key_with_the_right_prefix_but_wrong_secret_fails(store):
    key = store.create("someone", "admin")
    assert store.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None


def test_revoke_by_name_or_prefix(store):
    first, second = store.create("a", "predict"), store.create("b", "explain")
    store.revoke("a")
    assert store.verify(first) is None and store.verify(second) is not None
    store.revoke(store.verify(second).prefix)
    assert store.verify(second) is None
    assert [k.active for k in store.list()] == [False, False]
    with pytest.raises(TunekitError, match="no active key"):
        store.revoke("a")


def test_revocation_reaches_another_connection_at_once(store):
    key = store.create("shared", "predict")
    other = KeyStore(store.path)  # a second server process opens its own connection
    assert other.verify(key) is not None
    store.revoke("shared")
    assert other.verify(key) is None
    other.close()


def test_a_verified_key_is_remembered_until_another_connection_writes(store):
    key = store.create("cached", "predict")
    statements: list[str] = []
    store._connection.set_trace_callback(statements.append)
    store.verify(key)
    assert any("FROM api_keys" in sql for sql in statements)
    statements.clear()
    assert store.verify(key).name == "cached"
    assert statements == ["PRAGMA data_version"]  # no table lookup for a key already verified
    other = KeyStore(store.path)
    other.create("unrelated", "admin")  # any commit elsewhere invalidates what this store remembers
    other.close()
    statements.clear()
    assert store.verify(key).name == "cached"
    assert any("FROM api_keys" in sql for sql in statements)


def test_scopes(store):
    admin, predict = store.verify(store.create("a", "admin")), store.verify(store.create("p", "predict"))
    assert admin.allows("predict") and admin.allows("explain") and admin.allows("admin")
    assert predict.allows("predict") and not predict.allows("explain") and not predict.allows("admin")


@pytest.mark.parametrize(("name", "scope", "limit"), [("x", "root", None), (" ", "predict", None), ("x", "predict", 0)])
def test_bad_key_options_are_user_errors(store, name, scope, limit):
    with pytest.raises(TunekitError):
        store.create(name, scope, limit)


def test_default_store_path_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TUNEKIT_KEY_STORE", str(tmp_path / "k.sqlite"))
    assert default_store_path() == tmp_path / "k.sqlite"
    monkeypatch.delenv("TUNEKIT_KEY_STORE")
    assert default_store_path().parts[-2:] == (".tunekit", "keys.sqlite")
