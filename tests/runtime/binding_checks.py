"""The check every plan's IO binding must pass (onnxruntime's, OpenVINO's)."""

from __future__ import annotations

import gc
import weakref

import numpy as np

from mge.runtime.plan import Plan


def assert_binds_in_place(plan: Plan, feeds: list[np.ndarray]) -> tuple[object, list, list]:
    """``plan``'s IO binding writes the output buffers it was given and reads its bound
    inputs in place (a value written into a bound array is what the next run reads),
    with the same outputs as ``plan.run_feeds``; returns ``(binding, keys, arrays)``."""
    buffers = [np.empty(v.shape, v.dtype) for v in plan.outputs]
    binding = plan.io_binding(buffers)
    _, keys, _ = plan.unchecked()
    arrays = [np.array(f, order="C") for f in feeds]
    for key, array in zip(keys, arrays, strict=True):
        binding.bind(key, array)
    binding.run()
    assert all(b is o for b, o in zip(binding.outputs, buffers, strict=True))
    for b, want in zip(buffers, plan.run_feeds(arrays), strict=True):
        np.testing.assert_array_equal(b, want)
    arrays[0][...] = arrays[0] * 0.5  # written in place: the next run reads it
    binding.run()
    for b, want in zip(buffers, plan.run_feeds(arrays), strict=True):
        np.testing.assert_array_equal(b, want)
    return binding, keys, arrays


def assert_binding_outlives_its_caller(plan: Plan, feeds: list[np.ndarray]) -> None:
    """Arrays given to ``plan``'s binding and dropped by the caller are still what it reads
    and writes (the engines hold only their memory's addresses), as long as the binding's
    ``run`` is kept."""
    _, keys, _ = plan.unchecked()
    binding = plan.io_binding([np.empty(v.shape, v.dtype) for v in plan.outputs])
    for key, feed in zip(keys, feeds, strict=True):
        binding.bind(key, np.array(feed, order="C"))  # the only reference: the binding's
    run, alive = binding.run, weakref.ref(binding)
    del binding
    gc.collect()
    litter = [np.full(np.shape(f), np.nan, np.asarray(f).dtype) for f in feeds for _ in range(4)]
    run()
    assert alive() is not None and len(litter) == 4 * len(feeds)
    for b, want in zip(alive().outputs, plan.run_feeds(feeds), strict=True):
        np.testing.assert_array_equal(b, want)
