"""Ids for new rows are UUIDv7: unique, and ordered by the time they were made."""

from __future__ import annotations

import os
import time
import uuid

from heliograph.clock import new_ids, time_ordered_bits


def test_new_ids_are_version_7_and_carry_the_time() -> None:
    before = time.time_ns() // 1_000_000
    made = new_ids()
    after = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_new_ids_are_unique_and_sort_by_creation_millisecond() -> None:
    made = [new_ids() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    stamps = [item.int >> 80 for item in made]
    assert stamps == sorted(stamps)


def test_time_ordered_bits_clamps_the_time_and_keeps_74_bits() -> None:
    assert time_ordered_bits(-5, 0) >> 80 == 0
    assert time_ordered_bits(1 << 60, 0) >> 80 == (1 << 48) - 1
    everything = uuid.UUID(int=time_ordered_bits(0, (1 << 128) - 1))
    assert (everything.version, everything.variant) == (7, uuid.RFC_4122)


def test_a_forked_child_makes_other_ids() -> None:
    new_ids()  # the parent's pool now holds buffered random bytes
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(writer, new_ids().bytes)
        os._exit(0)
    os.waitpid(pid, 0)
    child = uuid.UUID(bytes=os.read(reader, 16))
    os.close(reader)
    os.close(writer)
    # Without a fresh pool in the child, both would draw the same next random bytes.
    random_bits = (1 << 74) - 1
    assert child.int & random_bits != new_ids().int & random_bits
