"""The scoped keys of a store folder (`rag.store.keys.KeyRing`): kept as digests, found in
constant time, seen by another process's ring as soon as they are made or revoked."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.store.keys import PREFIX, KeyNotFoundError, KeyRing


def test_a_key_is_shown_once_and_kept_only_as_its_digest(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys.sqlite3")
    info, key = ring.create("politics", "write", "the nightly script")
    assert key.startswith(PREFIX) and len(key) >= 40
    assert (info.collection, info.scope, info.label) == ("politics", "write", "the nightly script")
    stored = ring.path.read_bytes()
    assert key.encode() not in stored and key[len(PREFIX) :].encode() not in stored
    assert hashlib.sha256(key.encode()).hexdigest().encode() in stored
    assert ring.find(key) == info
    assert ring.find(key + "x") is None and ring.find("") is None and ring.find(key[:-1]) is None
    assert info.allows("read") and info.allows("write") and not info.allows("admin")


def test_keys_are_listed_by_collection_and_revoked_by_id(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys.sqlite3")
    assert ring.list() == [] and not ring.any()  # no file: no keys asked for
    a, _ = ring.create("politics", "read")
    b, key_b = ring.create("business", "admin")
    assert ring.list("politics") == [a] and set(ring.list()) == {a, b}
    with pytest.raises(KeyNotFoundError, match="rag keys list"):
        ring.revoke(b.id, "politics")  # not politics' key
    assert ring.revoke(b.id) == b and ring.find(key_b) is None
    assert ring.revoke_collection("politics") == 1 and ring.list() == []
    assert ring.any()  # every key revoked: keys are still asked for (the file says so)


def test_a_running_servers_ring_sees_another_processs_changes_at_once(tmp_path: Path) -> None:
    served, cli = KeyRing(tmp_path / "keys.sqlite3"), KeyRing(tmp_path / "keys.sqlite3")
    info, key = cli.create("news", "read")
    assert served.find(key) == info
    for _ in range(20):  # changes quicker than a file's modification time can tell apart
        made, other = cli.create("news", "read")
        assert served.find(other) == made
        cli.revoke(made.id)
        assert served.find(other) is None
    cli.revoke(info.id)
    assert served.find(key) is None


def test_bad_scopes_and_labels_are_refused(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys.sqlite3")
    with pytest.raises(ConfigError, match="read, write, admin"):
        ring.create("news", "owner")
    with pytest.raises(ConfigError, match="at most 200"):
        ring.create("news", "read", "x" * 201)
    assert ring.list() == []
