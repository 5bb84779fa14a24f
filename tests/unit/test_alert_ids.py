"""The fraud job's writer drops alert ids it wrote lately before MongoDB (whole bursts repeat them)."""

from credit_platform.stream.alerts import RecentIds


def _docs(*ids: str) -> list[dict]:
    return [{"_id": i, "reason": f"first write of {i}"} for i in ids]


def test_repeats_within_a_batch_and_across_batches_are_dropped_first_write_kept() -> None:
    recent = RecentIds(capacity=10)
    first = recent.keep_new(_docs("a", "b", "a", "c"))
    assert [d["_id"] for d in first] == ["a", "b", "c"]
    assert first[0]["reason"] == "first write of a"
    assert [d["_id"] for d in recent.keep_new(_docs("c", "d", "b"))] == ["d"]


def test_the_oldest_ids_are_forgotten_beyond_capacity_so_they_reach_the_insert_again() -> None:
    recent = RecentIds(capacity=2)
    recent.keep_new(_docs("a", "b"))
    recent.keep_new(_docs("a"))  # seen again: now the newest
    recent.keep_new(_docs("c"))  # b is the oldest and goes
    assert [d["_id"] for d in recent.keep_new(_docs("a", "b", "c"))] == ["b"]
