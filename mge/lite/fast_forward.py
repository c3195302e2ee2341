"""``LiteNetwork.forward``'s fast path: one closure per plan, for the steady state.

On a sub-millisecond model the Python work of a forward counts, and it costs most in
place: the engine's run between two forwards evicts the caches, so every function
called and every object touched by the forward is a miss. The general forward (plan
lookup by input shapes, the thread guard's records, checks of every feed, per-output
bookkeeping) took ~30 us in place around a 0.3 ms MobileNet run. The steady state,
the same plan as the last forward with nothing observing it, needs much less; the
closure :func:`fast_forward` builds does just that, with everything it needs bound
once, and gives up (returns ``False`` before doing anything) whenever the general path
is needed:

* another plan cache (fast-run chose again), an async mode, start/finish callbacks,
  a profiler or IO dumps, outputs into user memory;
* the calling thread is not the one thread using the network
  (:attr:`mge.lite.guard.UsageGuard.seat`): the guard's records are then kept;
* an input without data or whose data has another shape or dtype than the plan's.

What it does is what the general path does: the plan's engine run on the inputs' arrays,
each output tensor given the result (its layout kept when shape and dtype repeat). Where
the plan's engine has an IO binding (onnxruntime on the CPU, OpenVINO: :meth:`Plan.io_binding
<mge.runtime.plan.Plan.io_binding>`), the inputs stay bound to their arrays (bound again
when a tensor holds another array; an array the binding refuses, e.g. a read-only one
for OpenVINO, takes the general path) and the outputs are written into the same buffers
every forward, as in MegEngine Lite, whose output memory is valid until the next forward
writes it (``get_data_by_share``; ``to_numpy`` copies): the binding is checked once
against the general forward's results and not used unless they agree bit for bit.
Otherwise the engine is called directly (:meth:`Plan.unchecked
<mge.runtime.plan.Plan.unchecked>`) and each output gets a fresh array.

Example:
    >>> fast = fast_forward(network, network.plan)          # doctest: +SKIP
    >>> fast()                                              # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .guard import FORWARDED

if TYPE_CHECKING:
    from ..runtime.plan import Plan
    from .network import LiteNetwork
    from .tensor import LiteTensor


#: fast forwards kept per network: those of the plans used last (alternating input
#: shapes switch between them; each is made, and its binding checked, once), no more
#: than the plan cache keeps plans (each holds its plan's engine session)
KEEP = 8


def fast_forward_of(network: LiteNetwork, plan: Plan) -> Callable[[], bool] | None:
    """:func:`fast_forward` of ``network`` and ``plan``, made on the first call for the
    plan and kept in ``network._fast_kept`` (the :data:`KEEP` plans used last, or the
    plan cache's ``max_plans`` if fewer)."""
    kept = network._fast_kept
    if plan in kept:
        fast = kept.pop(plan)
    else:
        fast = fast_forward(network, plan)
        while kept and len(kept) >= min(KEEP, getattr(network._cache, "max_plans", KEEP)):
            kept.pop(next(iter(kept)))
    kept[plan] = fast  # the most recent last
    return fast


def fast_forward(network: LiteNetwork, plan: Plan) -> Callable[[], bool] | None:
    """The fast forward of ``network`` while it runs ``plan`` (module doc): ``True`` when
    it ran, ``False`` when the general path must (nothing was done). ``None`` where the
    network's inputs do not map one to one, in order, to the plan's, or the plan has no
    unchecked run (a staged plan: its shapes depend on values). Made right after a
    general forward of ``plan``: its outputs are the reference a binding must match."""
    unchecked = getattr(plan, "unchecked", None)
    if unchecked is None or network._discrete or \
            [v.name for v in plan.inputs] != list(network._inputs):
        return None
    call, keys, output_keys = unchecked()
    inputs = [(t, v.shape, v.dtype, key) for t, v, key in
              zip(network._inputs.values(), plan.inputs, keys, strict=True)]
    outputs = [(t, v.dtype) for t, v in zip(network._output_order, plan.outputs, strict=True)]
    # input key -> the array bound to it (the inputs' arrays, or copies of those it refuses)
    bound: dict[str, np.ndarray] = {}
    binding = checked_binding(plan, inputs, [t for t, _ in outputs], bound)
    bound_outputs = list(zip([t for t, _ in outputs], binding.outputs, strict=True)) \
        if binding is not None else []
    run = binding.run if binding is not None else None
    cache, guard, lock = network._cache, network._guard, network._guard.lock
    ascontiguousarray, forwarded = np.ascontiguousarray, FORWARDED

    def forward() -> bool:
        net = network
        if net._cache is not cache or net._async is not None or net._start is not None or \
                net._finish is not None or net._profiler is not None or net._dumpers or \
                net.config.options.force_output_use_user_specified_memory:
            return False
        with lock:
            if not guard.seat.solo:
                return False
            feeds = {}
            for tensor, shape, dtype, key in inputs:
                x = tensor._data
                if x is None or x.shape != shape or x.dtype != dtype:
                    return False
                if run is None:
                    feeds[key] = x
                elif x is not bound.get(key):  # another array: bound in its turn
                    try:
                        binding.bind(key, x)
                    except ValueError:  # one it cannot bind (not C-contiguous, read-only)
                        return False
                    bound[key] = x
            guard.solo_state = forwarded  # what before_forward records for it
            if run is not None:
                run()
                for tensor, buffer in bound_outputs:
                    if tensor._data is not buffer:
                        tensor._set(buffer)
                return True
            for (tensor, dtype), value in zip(outputs, call(output_keys, feeds, None),
                                              strict=True):
                if value.dtype is not dtype:
                    value = ascontiguousarray(value, dtype=dtype)
                data = tensor._data
                if data is not None and data.shape == value.shape and \
                        data.dtype is value.dtype:
                    tensor._data = value  # the layout already says so
                else:
                    tensor._set(value)
        return True

    return forward


def checked_binding(plan: Plan, inputs: list[tuple[LiteTensor, tuple[int, ...], np.dtype,
                                                   str]],
                    outputs: list[LiteTensor], bound: dict[str, np.ndarray]) -> Any | None:
    """``plan``'s IO binding (``Plan.io_binding``) with output buffers of its own, run
    once on the inputs' arrays and kept only if its outputs are bit for bit the outputs'
    data (the general forward's results, just made); ``None`` otherwise or where the
    plan has none. Its inputs stay bound to the inputs' arrays, or to C-contiguous,
    writeable copies of those a binding refuses (a read-only or strided array: a later
    forward binds its own array, or takes the general path for one it refuses again);
    ``bound`` is filled with the array bound to each input key."""
    arrays = [t._data for t, *_ in inputs]
    if any(a is None or a.shape != shape or a.dtype != dtype
           for a, (_, shape, dtype, _) in zip(arrays, inputs, strict=True)) or \
            any(t._data is None for t in outputs):
        return None
    arrays = [a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C")
              for a in arrays]
    buffers = [np.empty_like(t._data, order="C") for t in outputs]
    try:
        binding = plan.io_binding(buffers)
        if binding is None:
            return None
        for (_, _, _, key), array in zip(inputs, arrays, strict=True):
            binding.bind(key, array)
            bound[key] = array
        binding.run()
    except Exception:  # noqa: BLE001  (the engine refuses this binding: none is used)
        return None
    same = all(b.shape == t._data.shape and b.dtype == t._data.dtype and
               b.tobytes() == np.ascontiguousarray(t._data).tobytes()
               for b, t in zip(buffers, outputs, strict=True))
    return binding if same else None


__all__ = ["KEEP", "checked_binding", "fast_forward", "fast_forward_of"]
