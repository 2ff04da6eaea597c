"""The one token bucket and the sender table (pure logic, on a hand-moved clock)."""

from __future__ import annotations

from chatops.rate import SenderLimits, TokenBucket


def test_a_bucket_keeps_a_reserve_for_urgent_callers() -> None:
    now = [0.0]
    bucket = TokenBucket(5, 1.0, clock=lambda: now[0])
    assert [bucket.take(reserve=2) for _ in range(4)] == [True, True, True, False]
    assert bucket.take() and bucket.take() and not bucket.take()
    assert bucket.delay(reserve=2) == 3.0
    now[0] += 3.0
    assert bucket.take(reserve=2)


def test_a_flooding_sender_is_told_once_then_refused_in_silence() -> None:
    now = [0.0]
    limits = SenderLimits(3, clock=lambda: now[0])
    answers = [limits.take("eve") for _ in range(6)]
    assert answers == ["allowed"] * 3 + ["first-refusal", "silent", "silent"]
    now[0] += 20.0                                   # one token back: used, then silence again
    assert [limits.take("eve"), limits.take("eve")] == ["allowed", "silent"]
    now[0] += 120.0                                  # quiet long enough to refill: a new warning later
    assert [limits.take("eve") for _ in range(4)] == ["allowed"] * 3 + ["first-refusal"]


def test_the_least_recently_seen_sender_is_evicted_not_everyone() -> None:
    limits = SenderLimits(1, max_senders=3)
    for name in ("alice", "bob", "carol"):
        assert limits.take(name) == "allowed"
    assert limits.take("alice") == "first-refusal"   # alice is now the most recent
    assert limits.take("dave") == "allowed"          # evicts bob, the least recently seen
    assert "bob" not in limits and "alice" in limits and len(limits) == 3
    assert limits.take("alice") == "silent", "alice's empty bucket was kept"
