"""Shared helpers of the mge.data tests."""

from __future__ import annotations

import os
import sys

import pytest


def child_pids() -> set[int]:
    """Live child processes of this process (Linux ``/proc``)."""
    children: set[int] = set()
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        try:
            with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
                children.update(int(pid) for pid in f.read().split())
        except FileNotFoundError:  # the thread ended while we listed the others
            continue
    return {pid for pid in children if _alive(pid)}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1].split()[0] != "Z"  # zombies are reaped already
    except FileNotFoundError:
        return False


linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="child processes are read from Linux /proc"
)
