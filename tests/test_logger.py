"""``mge.logger`` (MegEngine's ``megengine.logger``) and ``megengine.core._config``."""

from __future__ import annotations

import io
import logging

import mge
from mge.compat import install_megengine_alias, uninstall_megengine_alias


def test_loggers_share_the_level_and_the_log_file() -> None:
    log = mge.get_logger("mge-test-a")
    assert mge.get_logger("mge-test-a") is log and not log.propagate and len(log.handlers) == 1
    sink = io.StringIO()
    mge.set_log_file(sink)
    previous = mge.set_log_level(logging.WARNING)
    try:
        later = mge.get_logger("mge-test-b")
        assert log.level == later.level == logging.WARNING
        log.info("hidden")
        later.warning("shown %d", 7)
        assert "hidden" not in sink.getvalue()
        assert "@test_logger.py:mge-test-b] WRN shown 7" in sink.getvalue()
        mge.enable_debug_log()
        assert log.level == logging.DEBUG
    finally:
        mge.set_log_level(previous)
        mge.set_log_file(None)


def test_core_config_is_mge_config() -> None:
    install_megengine_alias()
    try:
        from megengine.core import _config

        with mge.config._override(compute_mode="float32"):
            assert _config._compute_mode == "float32"
        _config.benchmark_kernel = True
        assert mge.config.benchmark_kernel is True
    finally:
        mge.config.benchmark_kernel = False
        uninstall_megengine_alias()
