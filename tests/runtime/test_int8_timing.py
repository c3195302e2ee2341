"""bench/int8_timing.py: blocks per engine, rotated, after idle pools stop spinning."""

from __future__ import annotations

import threading
import time

from bench.int8_timing import blocked_ms, other_threads_cpu_ns, settle, slower_with_more_threads


def test_blocks_rotate_and_each_block_warms_up() -> None:
    calls: list[str] = []
    fns = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    ms = blocked_ms(fns, rounds=3, iters=2)
    assert set(ms) == {"a", "b", "c"}
    blocks = [calls[k:k + 3] for k in range(0, len(calls), 3)]  # 1 untimed + 2 timed
    assert [b[0] for b in blocks] == list("abc" "bca" "cab")
    assert all(len(set(b)) == 1 for b in blocks)



def test_clock_is_the_callers() -> None:
    """Each timed run reads ``clock`` before and after (``bench/int8.py --cpu-time``
    passes ``time.process_time``): a fake clock advancing 2 ms per read, 2 ms per run."""
    reads = iter(range(0, 1000, 2))
    ms = blocked_ms({"a": lambda: None}, rounds=1, iters=3,
                    clock=lambda: next(reads) / 1e3)
    assert ms["a"] == 2.0

def test_settle_waits_for_a_spinning_thread() -> None:
    if other_threads_cpu_ns() is None:
        return  # not Linux: settle sleeps a fixed time
    stop = time.perf_counter() + 0.15

    def spin() -> None:
        while time.perf_counter() < stop:
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    waited = settle()
    worker.join()
    assert waited >= 0.1  # the spinning thread had to go quiet first
    assert settle() < 0.5  # nothing spins now: three quiet windows


def test_slower_with_more_threads() -> None:
    ms = {("m", 1, 1, "e"): 2.0, ("m", 1, 2, "e"): 1.5, ("m", 1, 1, "f"): 2.0,
          ("m", 1, 2, "f"): 2.5}
    assert slower_with_more_threads(ms) == ["m batch 1 f: 2.50 ms at 2 threads > 2.00 ms at 1"]


def test_profile_op_times(tmp_path) -> None:  # noqa: ANN001
    """bench/int8_profile.py: per op type, the sum of its nodes' median times (a slow
    outlier from a loaded machine does not count)."""
    import json

    from bench.int8_profile import op_times

    runs = {"conv_a": [10, 12, 900], "conv_b": [100, 101, 99]}
    events = [{"cat": "Node", "name": f"{node}_kernel_time", "dur": d,
               "args": {"op_name": "QLinearConv"}} for node, ds in runs.items() for d in ds]
    events += [{"cat": "Node", "name": "clip_fence_before", "dur": 5,
                "args": {"op_name": "Clip"}}, {"cat": "Session", "name": "x", "dur": 1}]
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(events))
    assert op_times(str(path)) == {"QLinearConv": 12 + 100}
