"""The ``mge`` console script dispatches to convert, serve and batch-predict."""

from __future__ import annotations

import pytest

from mge.cli import main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("convert", "serve", "batch-predict"):
        assert f"\n  {command} " in out


def test_unknown_or_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2 and "no command given" in capsys.readouterr().err
    assert main(["run"]) == 2 and "unknown command 'run'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["convert", "serve", "batch-predict"])
def test_subcommand_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out
