"""What ``enable_profile_performance``, ``io_txt_dump`` and ``io_bin_dump`` record.

:class:`Profiler` times each forward and every op of the plan, and writes after each
forward a JSON file (forward time, per-op and per-type times, averaged over the
forwards since the plan changed) and a readable summary next to it
(``<path minus .json>.txt``).
:class:`IODumper` writes every op's outputs: statistics and leading values as text,
or one ``.npy`` file per var.

Example:
    >>> network.enable_profile_performance("profile.json")  # doctest: +SKIP
    >>> network.forward(); network.wait()                     # doctest: +SKIP
    >>> print(open("profile.txt").read())                     # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..graph.ir import format_type
from ..ops.elemwise import Elemwise
from ..runtime.plan import Plan, StepInfo


def summary_path(path: str) -> str:
    """Where the readable summary of a profile written to ``path`` goes."""
    root, ext = os.path.splitext(path)
    return (root if ext == ".json" else path) + ".txt"


class Profiler:
    """Per-op times of one plan, accumulated over forwards."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.plan: Plan | None = None
        self.seconds: list[float] = []
        self.runs = 0
        self.forward_seconds = 0.0
        self._started = 0.0

    def start(self, plan: Plan) -> None:
        """Begin a forward of ``plan`` (a different plan resets the figures)."""
        if plan is not self.plan:
            self.plan, self.seconds, self.runs = plan, [0.0] * len(plan.steps), 0
            self.forward_seconds = 0.0
        self.runs += 1
        self._started = time.perf_counter()

    def finish(self) -> None:
        """End the forward begun by :meth:`start` (its wall time, ops and fetches)."""
        self.forward_seconds += time.perf_counter() - self._started

    def record(self, step: StepInfo, outputs: Sequence[Any], seconds: float) -> None:
        self.seconds[step.index] += seconds

    def report(self) -> dict[str, Any]:
        """The profile as a JSON-ready dict."""
        plan = self.plan
        assert plan is not None
        runs = max(self.runs, 1)
        total = sum(self.seconds) / runs * 1e3
        ops, by_type = [], {}
        for step, secs in zip(plan.steps, self.seconds, strict=True):
            node, ms = step.node, secs / runs * 1e3
            ops.append({
                "index": step.index, "name": step.name, "type": _op_label(step),
                "inputs": [format_type(v.shape, v.dtype) for v in node.inputs],
                "outputs": [format_type(v.shape, v.dtype) for v in node.outputs],
                "inplace": step.inplace is not None, "time_ms": round(ms, 4),
                "percent": round(100 * ms / total, 2) if total else 0.0})
            entry = by_type.setdefault(_op_label(step), {"count": 0, "time_ms": 0.0})
            entry["count"] += 1
            entry["time_ms"] += ms
        types = [{"type": k, "count": v["count"], "time_ms": round(v["time_ms"], 4),
                  "percent": round(100 * v["time_ms"] / total, 2) if total else 0.0}
                 for k, v in sorted(by_type.items(), key=lambda kv: -kv[1]["time_ms"])]
        mem = plan.memory
        return {"backend": plan.backend.name, "device": plan.options.device,
                "threads": plan.options.threads, "runs": self.runs,
                "forward_ms": round(self.forward_seconds / runs * 1e3, 4),
                "total_ms": round(total, 4), "peak_activation_bytes": mem.peak_activation_bytes,
                "weight_bytes": mem.weight_bytes, "by_type": types, "ops": ops}

    def summary(self, report: dict[str, Any] | None = None, top: int = 10) -> str:
        """A readable summary: totals, time per op type, the slowest ops."""
        rep = report or self.report()
        lines = [f"mge.lite profile: backend {rep['backend']} on {rep['device']}, "
                 f"{rep['threads']} thread(s), mean of {rep['runs']} forward(s)",
                 f"forward {rep['forward_ms']:.3f} ms (timed ops; a whole-graph backend "
                 "shows none), ops total "
                 f"{rep['total_ms']:.3f} ms over {len(rep['ops'])} ops; peak "
                 f"activations {rep['peak_activation_bytes'] / 2**20:.2f} MiB, weights "
                 f"{rep['weight_bytes'] / 2**20:.2f} MiB", "",
                 f"{'op type':<32}{'count':>6}{'ms':>11}{'%':>8}"]
        lines += [f"{t['type']:<32}{t['count']:>6}{t['time_ms']:>11.3f}{t['percent']:>8.1f}"
                  for t in rep["by_type"]]
        lines += ["", f"slowest {top} ops:", f"{'#':>4}  {'ms':>9}  {'%':>6}  op"]
        for op in sorted(rep["ops"], key=lambda o: -o["time_ms"])[:top]:
            lines.append(f"{op['index']:>4}  {op['time_ms']:>9.3f}  {op['percent']:>6.1f}  "
                         f"{op['type']} {op['name']} -> {', '.join(op['outputs'])}")
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        """Write the JSON profile and its summary."""
        rep = self.report()
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump(rep, f, indent=1)
        with open(summary_path(self.path), "w", encoding="utf-8") as f:
            f.write(self.summary(rep))


def _op_label(step: StepInfo) -> str:
    node = step.node
    mode = node.op.params().get("mode") if isinstance(node.op, Elemwise) else None
    return f"{node.type}:{mode}" if mode else node.type


class IODumper:
    """Writes every op's outputs on each forward: as text (``binary=False``, appended to
    the file ``path``) or as ``.npy`` files in the directory ``path``."""

    def __init__(self, path: str, binary: bool) -> None:
        self.path = path
        self.binary = binary
        self.plan: Plan | None = None
        self.forward = 0
        if binary:
            os.makedirs(path, exist_ok=True)
        else:
            open(path, "w", encoding="utf-8").close()

    def start(self, plan: Plan, feeds: Sequence[np.ndarray]) -> None:
        """Begin a forward; records the graph inputs."""
        self.plan = plan
        self.forward += 1
        if not self.binary:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(f"==== forward {self.forward} ({plan.backend.name})\n")
        for var, value in zip(plan.inputs, feeds, strict=True):
            self._write(f"input {var.name}", var.name or "input", np.asarray(value))

    def record(self, step: StepInfo, outputs: Sequence[Any], seconds: float) -> None:
        assert self.plan is not None
        node = step.node
        ins = ", ".join(v.ref for v in node.inputs)
        for k, (var, value) in enumerate(zip(node.outputs, outputs, strict=True)):
            array = self.plan.backend.fetch(value, var)
            name = var.name or f"{node.type}{step.index}_{k}"
            self._write(f"#{step.index} {_op_label(step)}({ins}) -> {var.ref}", name, array,
                        step.index)

    def _write(self, title: str, name: str, array: np.ndarray, index: int = -1) -> None:
        if self.binary:
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80]
            fname = f"{self.forward:03d}_{index + 1:04d}_{safe}.npy"
            np.save(os.path.join(self.path, fname), array)
            return
        flat = array.reshape(-1)
        stats = ""
        if flat.size and array.dtype.kind in "fiub":
            f64 = flat.astype(np.float64)
            stats = f" min={f64.min():.6g} max={f64.max():.6g} mean={f64.mean():.6g}"
        head = np.array2string(flat[:8], precision=6, separator=", ")
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{title}: {format_type(array.shape, array.dtype)}{stats} "
                    f"first={head}\n")


__all__ = ["IODumper", "Profiler", "summary_path"]
