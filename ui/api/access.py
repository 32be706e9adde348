"""Who a request is, and what it may do: the server's key, a scoped key, or nobody.

`Auth` holds RAG_SERVER__API_KEY (opens everything) and the store's `KeyRing` (keys for one
collection each, `read` < `write` < `admin`). Keys are asked for as soon as either exists, so a
key made with `rag keys create` closes a server that was open. `Guard` resolves the request's
`Access` from its headers before the body is read and leaves it on the request's state;
`ui.api.deps` checks it against the collection and scope a route needs:

- another collection than the key's, or one that does not exist: 404, the same reply, so a key
  never learns which other collections exist;
- the key's collection with too small a scope: 403, saying which scope is needed;
- server-wide routes (`/v1/metrics`, the key routes of other collections): the server's key.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from rag.store.keys import SCOPES, KeyRing


@dataclass(frozen=True)
class Access:
    """What a request may do: `collection` None means every collection."""

    collection: str | None
    scope: str
    key_id: str | None = None  # the scoped key's id; None for the server's key or no key

    @property
    def everything(self) -> bool:
        return self.collection is None

    def sees(self, collection: str) -> bool:
        return self.collection is None or self.collection == collection

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)


EVERYTHING = Access(None, "admin")
# a key this long (of random characters, as the README makes one) cannot be found by guessing
# at any rate: the right one is let through while its address is over the wrong-key limit
UNGUESSABLE = 20  # the server's key, or a server with no key at all


def key_matches(given: str | None, key: str) -> bool:
    return bool(given) and secrets.compare_digest(str(given).encode(), key.encode())


def credentials(headers: dict[bytes, bytes]) -> list[str]:
    """The keys a request carries: `Authorization: Bearer KEY` and `X-API-Key: KEY` (a bearer
    header of another scheme counts as a wrong key: it is not silently ignored)."""
    given = []
    if b"authorization" in headers:
        scheme, _, token = headers[b"authorization"].decode("latin-1").partition(" ")
        given.append(token.strip() if scheme.lower() == "bearer" else "")
    if b"x-api-key" in headers:
        given.append(headers[b"x-api-key"].decode("latin-1"))
    return given


class Auth:
    """The server's key and the scoped keys (see the module's docstring)."""

    def __init__(self, key: str | None, ring: KeyRing | None = None) -> None:
        self.key = key
        self.ring = ring

    @property
    def required(self) -> bool:
        """Whether callers need a key (the server's key is set, or keys were made)."""
        return self.key is not None or (self.ring is not None and self.ring.any())

    def _one(self, given: str) -> Access | None:
        if self.key is not None and key_matches(given, self.key):
            return EVERYTHING
        found = self.ring.find(given) if self.ring is not None and given else None
        return None if found is None else Access(found.collection, found.scope, found.id)

    def access(self, given: list[str]) -> Access | None:
        """What the keys given open (EVERYTHING when no key is needed); None when a key is
        missing or wrong, or two keys that differ are given."""
        if not self.required:
            return EVERYTHING
        found = [self._one(k) for k in given]
        if not found or any(f is None for f in found) or len(set(found)) != 1:
            return None
        return found[0]

    def unguessable(self, access: Access | None) -> bool:
        """Whether the key that gave `access` is too long to find by guessing (a scoped key
        always is; the server's key when UNGUESSABLE characters or longer)."""
        if access is None:
            return False
        return access.key_id is not None or (self.key is not None and len(self.key) >= UNGUESSABLE)


class Sessions:
    """What each web UI login opens: Gradio's session token (its `access-token-*` cookie, seen
    by `Guard` as the login sets it) -> the `Access` of the key logged in with. Bounded: the
    oldest logins are forgotten first (they log in again)."""

    MAX = 10_000

    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        self._seen: OrderedDict[str, Access] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, token: str, access: Access) -> None:
        with self._lock:
            self._seen[token] = access
            while len(self._seen) > self.MAX:
                self._seen.popitem(last=False)

    def of(self, cookies: dict[str, str]) -> Access | None:
        """What the browser with these cookies may do: everything when no key is needed; None
        when it has not logged in, or the key it logged in with was revoked since."""
        if not self.auth.required:
            return EVERYTHING
        for name, value in cookies.items():
            if not name.startswith("access-token"):
                continue
            with self._lock:
                access = self._seen.get(value)
            if access is None:
                continue
            if access.key_id is not None and not (
                self.auth.ring and self.auth.ring.active(access.key_id)
            ):
                return None
            return access
        return None
