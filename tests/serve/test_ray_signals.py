"""``mge serve --ray`` stops cleanly on SIGTERM at any point after Ray starts, also while
``serve.run`` still waits for replicas to load (Ray's own driver handler would ``sys.exit(15)``).
Ray and Serve are replaced by stand-ins that record the calls; the signal is real."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

import pytest

pytest.importorskip("ray.serve", reason="the ray extra (pip install 'mge[ray]') is not installed")

from mge.serve import ray_serve  # noqa: E402


class _FakeRay:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def init(self, address: str | None = None) -> None:
        self.calls.append("ray.init")
        signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(signum))  # as Ray's driver does

    def shutdown(self) -> None:
        self.calls.append("ray.shutdown")


class _FakeServe:
    def __init__(self, calls: list[str], run_seconds: float) -> None:
        self.calls, self.run_seconds = calls, run_seconds

    def start(self, **_: Any) -> None:
        self.calls.append("serve.start")

    def run(self, *_: Any, **__: Any) -> None:
        self.calls.append("serve.run")
        deadline = time.monotonic() + self.run_seconds  # polls, as Serve waits for replicas
        while time.monotonic() < deadline:
            time.sleep(0.01)
        self.calls.append("serve.run returned")

    def shutdown(self) -> None:
        self.calls.append("serve.shutdown")


@pytest.mark.parametrize("run_seconds", [30.0, 0.0], ids=["while-replicas-load", "serving"])
def test_sigterm_shuts_serve_down_cleanly(monkeypatch: pytest.MonkeyPatch,
                                          run_seconds: float) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers need the main thread")
    calls: list[str] = []
    monkeypatch.setattr(ray_serve, "ray", _FakeRay(calls))
    monkeypatch.setattr(ray_serve, "serve", _FakeServe(calls, run_seconds))
    monkeypatch.setattr(ray_serve, "deployment", lambda *_: "app")
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        status = ray_serve.run_ray_serve([], None, "127.0.0.1", 0, 2, 2, None)  # type: ignore[arg-type]
    finally:
        timer.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert status == 0
    assert "serve.run returned" not in calls[:3]
    assert calls[-2:] == ["serve.shutdown", "ray.shutdown"]
