"""``bench/lite.py``'s tables: per-case rows, the done-means summary, the noise band.

Ratios are paired (``block_timing``): the median of per-round ratios of block medians,
with a bootstrap 95 % interval; ``CONTROL`` is onnxruntime loaded a second time under
another name, so its ratio to ``onnxruntime`` is the run's own noise band.
"""

from __future__ import annotations

import numpy as np
from block_timing import BlockTiming

PEERS = ("onnxruntime", "openvino", "pytorch", "megengine-lite")
#: OpenVINO's reduced-precision runs: the peers of mge's reduced-precision modes
LOW_PEERS = ("openvino-bf16", "openvino-f16")
#: the control: onnxruntime again, same settings, another session
CONTROL = "onnxruntime-control"
NAN = float("nan")

ROW_HEADER = ["model", "batch", "thr", "engine", "median ms", "x fastest peer", "95% x",
              "cpu ms", "cpu x peer", "load ms", "load cpu", "peak MiB", "rel.err"]
SUMMARY_HEADER = ["model", "batch", "thr", "fastest f32 peer", "noise (control x, 95%)",
                  "auto x", "auto cpu x", "fastrun x", "fastrun cpu x",
                  "best mge low / best OpenVINO low", "low x", "low cpu x", "auto load x",
                  "auto load cpu x"]


def fastest(timing: BlockTiming, names: tuple[str, ...] | list[str], col: int = 0
            ) -> str | None:
    """The fastest engine of ``names`` (``BlockTiming.fastest``; None if none ran)."""
    return timing.fastest(names, col)


def paired(timing: BlockTiming, engine: str, against: str | None, col: int = 0
           ) -> tuple[float, float, float]:
    """(2.5 %, median, 97.5 %) of ``engine / against`` (all nan where one is missing)."""
    if against is None or engine not in timing.blocks:
        return NAN, NAN, NAN
    return timing.ratio(engine, against, col)


def noise_band(timing: BlockTiming) -> str:
    """The control's ratio to onnxruntime and its interval, as text."""
    lo, mid, hi = paired(timing, CONTROL, "onnxruntime" if "onnxruntime" in timing.blocks
                         else None)
    return f"{mid:.3f} [{lo:.3f}, {hi:.3f}]"


def case_rows(case: list, timing: BlockTiming,
              results: dict[str, tuple[np.ndarray, float, float]],
              memory: dict[str, float]) -> list[list]:
    """One row per engine of one (model, batch, threads) (``ROW_HEADER``)."""
    peer, peer_cpu = fastest(timing, PEERS), fastest(timing, PEERS, 1)
    ref = results["onnxruntime"][0] if "onnxruntime" in results else None
    rows = []
    for k, (out, load_ms, load_cpu) in results.items():
        err = NAN if ref is None else float(np.abs(out - ref).max() / np.abs(ref).max())
        lo, mid, hi = paired(timing, k, peer)
        rows.append([*case, k, timing.median(k), mid, f"{lo:.3f}-{hi:.3f}",
                     timing.median(k, 1), paired(timing, k, peer_cpu, 1)[1], load_ms,
                     load_cpu, memory.get(k, NAN), f"{err:.1e}"])
    return rows


def summary_row(case: list, timing: BlockTiming, loads: dict[str, tuple[float, float]]
                ) -> list:
    """The done-means ratios of one (model, batch, threads): mge's automatic and fast-run
    engines against the fastest float32 peer, mge's best reduced-precision engine
    against OpenVINO's best reduced-precision run (wall and CPU, paired ratios),
    mge-auto's load time against the fastest peer's load, wall and CPU (``nan`` where
    an engine is missing; ``loads``: (wall ms, CPU ms) by engine)."""
    peer, peer_cpu = fastest(timing, PEERS), fastest(timing, PEERS, 1)
    low_mge = [k for k in timing.blocks if k.startswith("mge-") and
               k.endswith(("-bf16", "-fp16"))]
    low, low_cpu = fastest(timing, low_mge), fastest(timing, low_mge, 1)
    low_peer, low_peer_cpu = fastest(timing, LOW_PEERS), fastest(timing, LOW_PEERS, 1)

    def load_ratio(col: int) -> float:
        peer_load = min((loads[k][col] for k in PEERS if k in loads), default=NAN)
        return loads["mge-auto"][col] / peer_load if "mge-auto" in loads else NAN

    def x(engine: str | None, against: str | None, col: int = 0) -> float:
        return NAN if engine is None else paired(timing, engine, against, col)[1]

    return [*case, peer or "-", noise_band(timing),
            x("mge-auto", peer), x("mge-auto", peer_cpu, 1),
            x("mge-fastrun", peer), x("mge-fastrun", peer_cpu, 1),
            f"{low or '-'} / {low_peer or '-'}", x(low, low_peer),
            x(low_cpu, low_peer_cpu, 1), load_ratio(0), load_ratio(1)]


def slower_with_more_threads(rows: list[list]) -> list[str]:
    """Lines naming every (model, batch, engine) slower at 2 threads than at 1."""
    ms = {(r[0], r[1], r[2], r[3]): r[4] for r in rows}
    return [f"{model} batch {batch} {engine}: {two:.2f} ms at 2 threads > "
            f"{ms[(model, batch, 1, engine)]:.2f} ms at 1"
            for (model, batch, threads, engine), two in ms.items()
            if threads == 2 and two > ms.get((model, batch, 1, engine), float("inf"))]


__all__ = ["CONTROL", "LOW_PEERS", "PEERS", "ROW_HEADER", "SUMMARY_HEADER", "case_rows",
           "fastest", "noise_band", "paired", "slower_with_more_threads", "summary_row"]
