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


@pytest.mark.server
def test_keys_on_the_server_store_open_every_machine_at_once(postgres, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With RAG_STORE__URL, keys live on PostgreSQL: one made through one machine's command line
    opens a server elsewhere at once, and one revoked there is refused here at once."""
    import uuid

    from rag.store.keys import PgKeyRing, key_ring
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "a", store={"url": str(postgres)})
    assert isinstance(key_ring(settings), PgKeyRing)
    assert isinstance(key_ring(make_settings(tmp_path / "b")), KeyRing)  # files without a URL
    schema = "rag__keys_" + uuid.uuid4().hex[:8]  # (this test's own, on the session's server)
    served, cli = PgKeyRing(str(postgres), schema), PgKeyRing(str(postgres), schema)
    assert not served.any() and served.list() == []
    info, key = cli.create("news", "read")
    assert served.find(key) == info and served.any()
    for _ in range(5):
        made, other = served.create("news", "write")
        assert cli.find(other) == made and cli.active(made.id)
        cli.revoke(made.id)
        assert served.find(other) is None and not served.active(made.id)
    assert cli.revoke_collection("news") == 1 and served.find(key) is None
    assert served.any()  # every key revoked: keys are still asked for
    assert not (tmp_path / "a").exists() or not list((tmp_path / "a").glob("keys*"))


@pytest.mark.server
def test_a_server_moved_to_the_server_store_does_not_open_to_those_its_keys_kept_out(
    postgres,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    """Keys made in the folder's file are not on the server store: until keys are made there,
    a server with RAG_STORE__URL refuses to start rather than answer anyone."""
    import uuid

    from rag.store.keys import PgKeyRing, folder_keys_left_behind
    from rag.store.layout import Layout
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "a", store={"url": str(postgres)})
    KeyRing(Layout.of(settings).keys).create("news", "read")
    fresh = PgKeyRing(str(postgres), "rag__keys_" + uuid.uuid4().hex[:8])
    assert folder_keys_left_behind(settings, fresh) == Layout.of(settings).keys
    fresh.create("news", "read")  # made again on the server store: it starts
    assert folder_keys_left_behind(settings, fresh) is None
    assert folder_keys_left_behind(make_settings(tmp_path / "b"), KeyRing(tmp_path / "k")) is None
