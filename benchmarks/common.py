"""What every benchmark shares: a warmed-up median timing, and a JSON record that says where,
when and on what code it was measured."""

from __future__ import annotations

import statistics
import time

from icl_book.files import atomic_write, dump_json


def median_time(fn, repeats: int, warmup: bool = True) -> float:
    """The median wall time of ``repeats`` calls of ``fn`` (after one untimed call, unless told not to)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def write_result(result: dict, out) -> dict:
    """Write ``result`` to ``out`` (if given) atomically, and say so."""
    if out:
        atomic_write(out, dump_json(result))
        print(f"wrote {out}")
    return result
