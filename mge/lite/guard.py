"""The threading model of ``LiteNetwork``: one network per thread, misuse detected.

As in MegEngine Lite, a network and its IO tensors are meant to be used by one thread
at a time: set the inputs, ``forward``, ``wait``, read the outputs. For several threads
give each its own network (``share_weights_with`` shares the loaded weights). mge makes
the misuse safe instead of silently wrong:

* ``forward`` and ``wait`` of one network are serialized (a lock): concurrent calls never
  corrupt the plan's buffers or raise a race error;
* a thread whose inputs were overwritten by another thread before its ``forward`` gets a
  :class:`LiteConcurrencyError` from that ``forward``;
* a thread that ran a ``forward`` and then reads an output that another thread's later
  ``forward`` replaced gets a :class:`LiteConcurrencyError` from the read.

Handing a network from one thread to another (inputs set in one, ``forward`` in another,
outputs read in a third) is not misuse and works. The guard keeps one small record per
thread that used the network, dropped when the thread ends.

While one thread alone uses the network (the common case) the guard keeps no records: that
thread holds the *seat* (a thread-local flag, so the check is one attribute read, cheap
on the forward path of small models), and only when a second live thread sets inputs or
runs a forward are the records made, as they would have been, and kept from then on.

Example:
    >>> guard = UsageGuard("net")
    >>> guard.wrote_input(); guard.before_forward(); guard.after_forward()
    1
"""

from __future__ import annotations

import threading
import weakref

from .struct import LiteError


class LiteConcurrencyError(LiteError):
    """One network used by several threads at once (use one network per thread)."""


class _Seat(threading.local):
    """``solo`` is true in the one thread using the network, false in every other."""

    solo = False


#: ``UsageGuard.solo_state`` flags: the seated thread ran a forward / wrote inputs since
FORWARDED, WROTE = 2, 1


class UsageGuard:
    """Tracks which thread set inputs and ran forwards; raises on interleaved use."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.RLock()  # held by forward/wait and by output publishing
        #: ``seat.solo``: the calling thread is the only one using the network (a new
        #: seat nobody holds once a second thread came: records are kept from then on)
        self.seat = _Seat()
        self._holder: weakref.ReferenceType[threading.Thread] | None = None
        #: what the seated thread did: ``FORWARDED`` and/or ``WROTE`` (inputs since its
        #: last forward); a forward on the fast path sets it to ``FORWARDED``
        self.solo_state = 0
        #: a second live thread used the network: records are kept (see module doc)
        self.shared = False
        self._generation = 0
        self._producer: dict[int, tuple[int, str]] = {}  # id(output tensor) -> (gen, thread)
        # thread -> True while its inputs since its last forward are intact, False once
        # another thread wrote inputs in between
        self._pending: weakref.WeakKeyDictionary[threading.Thread, bool] = \
            weakref.WeakKeyDictionary()
        self._last_forward: weakref.WeakKeyDictionary[threading.Thread, int] = \
            weakref.WeakKeyDictionary()

    def _seated(self) -> bool:
        """Under :attr:`lock`: whether the calling thread uses the network alone (taking
        the seat if nobody holds it or its holder ended); a second live thread makes the
        records the guard skipped (see module doc) and is refused the seat."""
        if self.seat.solo:
            return True
        if self.shared:
            return False
        me = threading.current_thread()
        holder = self._holder() if self._holder is not None else None
        if holder is None or not holder.is_alive():  # its records would be gone by now
            self._holder, self.solo_state = weakref.ref(me), 0
            self.seat.solo = True
            return True
        self.shared, self.seat = True, _Seat()
        if self.solo_state & FORWARDED:
            self._generation += 1
            self._last_forward[holder] = self._generation
        if self.solo_state & WROTE:
            self._pending[holder] = True
        return False

    def wrote_input(self) -> None:
        """The calling thread writes an input tensor."""
        with self.lock:
            if self._seated():
                self.solo_state |= WROTE
                return
            me = threading.current_thread()
            for other in list(self._pending):
                if other is not me:
                    self._pending[other] = False
            self._pending.setdefault(me, True)

    def before_forward(self) -> None:
        """Check, under :attr:`lock`, that the calling thread's inputs are its own."""
        if self._seated():
            self.solo_state = FORWARDED
            return
        me = threading.current_thread()
        intact = self._pending.pop(me, True)
        if not intact:
            raise LiteConcurrencyError(
                f"network {self.name}: another thread set its inputs after thread "
                f"{me.name!r} did and before this forward, so the result would mix both; "
                "use one LiteNetwork per thread (share_weights_with shares the weights)")

    def after_forward(self) -> int:
        """Record a forward of the calling thread (its outputs are published under this
        number, see :meth:`produced`); returns the number."""
        self._generation += 1
        if self.shared:
            self._last_forward[threading.current_thread()] = self._generation
        return self._generation

    def produced(self, tensor: object, generation: int, thread_name: str) -> None:
        """Output ``tensor`` now holds the result of forward ``generation`` (asked for by
        thread ``thread_name``)."""
        if self.shared:  # alone, the one thread's forwards are all there were
            self._producer[id(tensor)] = (generation, thread_name)

    def check_read(self, tensor: object, output_name: str) -> None:
        """Raise if the calling thread reads an output another thread's forward replaced."""
        if not self.shared:
            return
        me = threading.current_thread()
        mine = self._last_forward.get(me)
        generation, producer = self._producer.get(id(tensor), (0, ""))
        if mine is not None and generation > mine:
            raise LiteConcurrencyError(
                f"network {self.name}: output {output_name!r} was replaced by a forward of "
                f"thread {producer!r} after thread {me.name!r}'s forward; use one LiteNetwork "
                "per thread (share_weights_with shares the weights)")


__all__ = ["LiteConcurrencyError", "UsageGuard"]
