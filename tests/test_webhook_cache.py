"""The verdict cache: TTL, failures kept briefly, concurrent lookups coalesced, bounded size."""

from __future__ import annotations

import threading
import time

import pytest

from airlock.admission.cache import VerdictCache
from airlock.errors import CacheTimeout


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_verdict_is_kept_for_its_ttl_then_recomputed():
    clock, calls = Clock(), []
    cache: VerdictCache[str] = VerdictCache(ttl=60, failure_ttl=5, clock=clock)
    compute = lambda: calls.append(1) or "allowed"  # noqa: E731
    assert cache.get("k", compute) == "allowed"
    clock.now += 59
    assert cache.get("k", compute) == "allowed"
    assert len(calls) == 1 and (cache.hits, cache.misses) == (1, 1)
    clock.now += 2
    assert cache.get("k", compute) == "allowed"
    assert len(calls) == 2


def test_keys_differ_by_every_part():
    cache: VerdictCache[str] = VerdictCache()
    seen = []
    for key in [("img", "sha256:a", "p1", "t1"), ("img", "sha256:b", "p1", "t1"),
                ("img", "sha256:a", "p2", "t1"), ("img", "sha256:a", "p1", "t2")]:
        assert cache.get(key, lambda key=key: seen.append(key) or key) == key
    assert len(seen) == 4


def test_a_denial_is_kept_only_briefly():
    clock = Clock()
    cache: VerdictCache[str] = VerdictCache(ttl=300, failure_ttl=5, failed=lambda v: v == "denied", clock=clock)
    answers = iter(["denied", "allowed"])
    assert cache.get("k", lambda: next(answers)) == "denied"
    clock.now += 4
    assert cache.get("k", lambda: next(answers)) == "denied"  # still cached
    clock.now += 2
    assert cache.get("k", lambda: next(answers)) == "allowed"  # signed since: seen after failure_ttl


def test_an_exception_is_cached_briefly_and_raised_to_each_caller():
    clock, calls = Clock(), []

    def down() -> str:
        calls.append(1)
        raise ConnectionError("registry 127.0.0.1:1 refused the connection")

    cache: VerdictCache[str] = VerdictCache(failure_ttl=5, clock=clock)
    for _ in range(3):
        with pytest.raises(ConnectionError, match="refused"):
            cache.get("k", down)
    assert len(calls) == 1  # a retry storm does not hammer the registry
    clock.now += 6
    assert cache.get("k", lambda: "allowed") == "allowed"


def test_concurrent_lookups_of_one_key_are_coalesced_into_one_call():
    cache: VerdictCache[str] = VerdictCache()
    calls, started, release = [], threading.Event(), threading.Event()

    def slow() -> str:
        calls.append(threading.current_thread().name)
        started.set()
        release.wait(5)
        return "allowed"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow))) for _ in range(20)]
    threads[0].start()
    assert started.wait(5)
    for thread in threads[1:]:
        thread.start()
    time.sleep(0.1)  # the others are now waiting on the first
    release.set()
    for thread in threads:
        thread.join(5)
    assert results == ["allowed"] * 20
    assert len(calls) == 1 and cache.misses == 1 and cache.hits == 19


def test_a_waiter_gives_up_at_its_deadline_and_the_computation_still_lands():
    cache: VerdictCache[str] = VerdictCache()
    release = threading.Event()
    first = threading.Thread(target=lambda: cache.get("k", lambda: release.wait(5) and "allowed"))
    first.start()
    time.sleep(0.05)
    began = time.monotonic()
    with pytest.raises(CacheTimeout, match="still running"):
        cache.get("k", lambda: "never called", wait=0.2)
    assert 0.15 < time.monotonic() - began < 1
    release.set()
    first.join(5)
    assert cache.get("k", lambda: "never called") == "allowed"


def test_the_oldest_entries_go_first_past_max_entries():
    cache: VerdictCache[int] = VerdictCache(max_entries=3)
    for i in range(5):
        cache.get(i, lambda i=i: i)
    assert len(cache) == 3
    assert cache.get(0, lambda: -1) == -1  # evicted, recomputed
    assert cache.get(4, lambda: -1) == 4


def test_peek_answers_only_a_finished_fresh_verdict():
    clock = Clock()
    cache: VerdictCache[str] = VerdictCache(ttl=60, failure_ttl=5, failed=lambda v: v == "denied", clock=clock)
    assert cache.peek("k") is None  # never computed
    assert cache.get("k", lambda: "allowed") == "allowed"
    assert cache.peek("k") == "allowed"
    clock.now += 61
    assert cache.peek("k") is None  # stale: the caller computes it again
    assert cache.get("d", lambda: "denied") == "denied"
    assert cache.peek("d") == "denied"
    clock.now += 6
    assert cache.peek("d") is None  # a denial is kept only failure_ttl

    def broken() -> str:
        raise OSError("registry down")

    with pytest.raises(OSError):
        cache.get("e", broken)
    assert cache.peek("e") is None  # a cached exception is get()'s to raise

    started, release = threading.Event(), threading.Event()
    worker = threading.Thread(target=cache.get, args=("slow", lambda: started.set() or (release.wait() and "late")))
    worker.start()
    started.wait(5)
    assert cache.peek("slow") is None  # still being computed: peek never waits
    release.set()
    worker.join(5)
    assert cache.peek("slow") == "late"


def test_put_keeps_a_verdict_computed_elsewhere_for_its_ttl_from_when_it_was_read():
    clock = Clock()
    cache: VerdictCache[str] = VerdictCache(ttl=60, failure_ttl=5, failed=lambda v: v == "denied", clock=clock,
                                            max_entries=2)
    cache.put("k", "allowed", since=clock.now - 50)  # read 50 s ago: 10 s left
    assert cache.fresh("k") and cache.get("k", lambda: "recomputed") == "allowed"
    assert cache.hits == 1  # fresh() is not a hit
    clock.now += 11
    assert not cache.fresh("k") and cache.peek("k") is None
    cache.put("d", "denied")
    clock.now += 4
    assert cache.peek("d") == "denied"
    clock.now += 2
    assert cache.peek("d") is None  # a denial put is kept only failure_ttl
    cache.put("d", "allowed")  # replaces what was kept
    assert cache.peek("d") == "allowed"
    cache.put("x", "allowed")
    cache.put("y", "allowed")
    assert len(cache) == 2 and cache.peek("k") is None and cache.peek("d") is None  # the oldest went


def test_put_while_a_computation_runs_answers_later_callers_and_the_waiters_get_theirs():
    cache: VerdictCache[str] = VerdictCache()
    started, release = threading.Event(), threading.Event()
    got: list[str] = []
    worker = threading.Thread(target=lambda: got.append(cache.get("k", lambda: started.set() or
                                                                  (release.wait() and "computed"))))
    worker.start()
    started.wait(5)
    cache.put("k", "put")
    assert cache.get("k", lambda: "again") == "put"
    release.set()
    worker.join(5)
    assert got == ["computed"] and cache.peek("k") == "put"
