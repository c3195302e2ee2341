"""Structural mutations of valid ``.mge`` files and the loaders a fuzzer drives with them.

A mutation edits what a FlatBuffers reader trusts: 32-bit words that look like offsets or
vector lengths (set to 0, -1, past the end, off by a few), 16-bit vtable entries, single
bits and bytes, truncation and the 4-byte length/identifier prefix. ``choose(n)`` picks
an integer in ``range(n)``: hypothesis' ``data.draw`` in the test, ``random.Random`` in
the long campaign (``fuzz_campaign.py``).

``load_case`` runs both loaders (``mge.load_graph`` + ``Graph.lint`` and a Lite network
load) under a per-case time limit and returns ``None`` or what went wrong.
"""

from __future__ import annotations

import io
import signal
import struct
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from mge.lite import LiteNetwork
from mge.lite.struct import LiteValueError
from mge.serialization.mge_graph import MgeFormatError, load_graph

FIXTURES = Path(__file__).parents[1] / "fixtures" / "megengine"
SAMPLES = ("clip_bug", "convnet_plain", "convnet_nchw44", "preprocess", "two_outputs",
           "convnet_io16xc32")
VALID = {name: (FIXTURES / f"{name}.mge").read_bytes() for name in SAMPLES}

Choose = Callable[[int], int]
_U32 = (0, 1, 4, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFC, 0x10000)


def _word_positions(data: bytes, length: int) -> list[int]:
    """Aligned positions whose little-endian word could be an offset or a length."""
    fmt = "<I" if length == 4 else "<H"
    return [p for p in range(0, len(data) - length + 1, length)
            if 0 < struct.unpack_from(fmt, data, p)[0] <= len(data)]


def mutate(data: bytes, choose: Choose) -> bytes:
    """Apply one to four structural edits to ``data``."""
    out = bytearray(data)
    for _ in range(1 + choose(4)):
        kind = choose(7)
        if kind <= 1:  # an offset/length word: an interesting value, or nudged
            words = _word_positions(out, 4) or [0]
            pos = words[choose(len(words))]
            old = struct.unpack_from("<I", out, pos)[0] if pos + 4 <= len(out) else 0
            new = _U32[choose(len(_U32))] if kind == 0 else (old + choose(17) - 8) % 2**32
            out[pos:pos + 4] = struct.pack("<I", new)[: len(out) - pos]
        elif kind == 2:  # a vtable entry (field offset or table size)
            halves = _word_positions(out, 2) or [0]
            pos = halves[choose(len(halves))]
            out[pos:pos + 2] = struct.pack("<H", choose(1 << 16))[: len(out) - pos]
        elif kind == 3:
            out[choose(len(out))] ^= 1 << choose(8)
        elif kind == 4:
            out[choose(len(out))] = choose(256)
        elif kind == 5:  # truncation
            del out[max(1, choose(len(out))):]
        else:  # the length/identifier prefix
            pos = choose(min(16, len(out)))
            out[pos] = choose(256)
    return bytes(out)


class Hang(BaseException):
    """A case ran past its time limit (BaseException: loader code cannot swallow it)."""


def _alarm(_signum: int, _frame: object) -> None:
    raise Hang


def load_case(data: bytes, seconds: float = 10.0,
              tally: Counter[str] | None = None) -> str | None:
    """Load ``data`` both ways; ``None`` if it loaded or failed with mge's format error,
    else a description (a raw exception with its traceback, or a hang). ``tally`` counts
    how each loader ended (``graph loaded``, ``graph refused``, ``lite loaded``, ...)."""
    tally = Counter() if tally is None else tally
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        try:
            load_graph(io.BytesIO(data)).graph.lint()
            tally["graph loaded"] += 1
        except MgeFormatError:
            tally["graph refused"] += 1
        try:
            LiteNetwork().load(data)
            tally["lite loaded"] += 1
        except LiteValueError as exc:
            if not str(exc).startswith("cannot load "):
                return "LiteValueError not about the file: " + traceback.format_exc()
            tally["lite refused"] += 1
    except Hang:
        return f"hang: more than {seconds} s"
    except Exception:  # noqa: BLE001 - any other exception is the finding
        return "raw exception: " + traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return None
