"""The webhook's verdict cache: one verification per (image, digest, policy version, trust version).

An admission request for a Deployment of ten replicas, the ReplicaSet it makes, then each Pod,
names the same image again and again within seconds; verifying it once is enough as long as
nothing that decides the verdict changed. The key carries everything that does: the image as
named (globs match it), the digest verified, and the versions of the policies and of the trust
root, so a reload is a new key and never serves a stale verdict.

- a verdict is kept ``ttl`` seconds; a failure (a denial, or an exception: the registry was
  down) only ``failure_ttl`` seconds, so a newly signed image or a registry back up is seen soon
  while a storm of retries does not hammer the registry;
- concurrent requests for one key are coalesced: the first computes, the others wait for it;
- at most ``max_entries`` are kept (the oldest go first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from airlock.errors import CacheTimeout

V = TypeVar("V")


class _Entry(Generic[V]):
    __slots__ = ("done", "error", "expires", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: V | None = None
        self.error: BaseException | None = None
        self.expires = 0.0


class VerdictCache(Generic[V]):
    def __init__(self, *, ttl: float = 300.0, failure_ttl: float = 10.0, max_entries: int = 10_000,
                 failed: Callable[[V], bool] = lambda value: False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.failure_ttl, self.max_entries = ttl, failure_ttl, max_entries
        self.failed, self.clock = failed, clock
        self._entries: OrderedDict[Hashable, _Entry[V]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, compute: Callable[[], V], *, wait: float | None = None) -> V:
        """The cached verdict for ``key``, else ``compute()``'s (once, however many threads ask).
        An exception from ``compute`` is cached (briefly) and raised to every caller. ``wait``:
        the longest this caller waits for another thread's computation (``CacheTimeout``)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.done.is_set() and entry.expires <= self.clock():
                del self._entries[key]
                entry = None
            mine = entry is None
            if mine:
                entry = self._entries[key] = _Entry()
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
                self.misses += 1
            else:
                self.hits += 1
        assert entry is not None
        if mine:
            try:
                entry.value = compute()
                lifetime = self.failure_ttl if self.failed(entry.value) else self.ttl
            except BaseException as exc:
                entry.error, lifetime = exc, self.failure_ttl
            entry.expires = self.clock() + lifetime
            entry.done.set()
        elif not entry.done.wait(wait):
            raise CacheTimeout("the verification of this image is still running")
        if entry.error is not None:
            raise entry.error
        return entry.value  # type: ignore[return-value]

    def put(self, key: Hashable, value: V, *, since: float | None = None) -> None:
        """Keep ``value`` for ``key`` (for ``ttl``, or ``failure_ttl`` when it failed), counted from
        ``since`` (a time of ``clock``: when what it says was read), else from now. It replaces
        what was kept; a computation of ``key`` still running answers its own waiters."""
        entry: _Entry[V] = _Entry()
        entry.value = value
        entry.expires = (self.clock() if since is None else since) + (
            self.failure_ttl if self.failed(value) else self.ttl)
        entry.done.set()
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = entry
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def peek(self, key: Hashable) -> V | None:
        """The verdict for ``key`` when one is cached and fresh, else None (never computes, never
        waits: a caller answers a hit in its own thread and hands only a miss to a worker). A
        cached exception is None too: ``get`` raises it."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or not entry.done.is_set() or entry.error is not None or entry.expires <= self.clock():
                return None
            self.hits += 1
            return entry.value

    def fresh(self, key: Hashable) -> bool:
        """Whether ``peek`` would answer ``key`` (not counted as a hit)."""
        with self._lock:
            entry = self._entries.get(key)
            return entry is not None and entry.done.is_set() and entry.error is None and entry.expires > self.clock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
