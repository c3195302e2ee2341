"""hub.list/load/help/import_module over local git repositories, archives and directories."""

from __future__ import annotations

import io
import subprocess
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import mge
from mge import hub
from mge.hub import (
    GitCheckoutError,
    GitPullError,
    InvalidGitHost,
    InvalidProtocol,
    InvalidRepo,
)

from .helpers import FileServer, commit_files, git


def _hubconf(version: int, weights_url: str = "http://127.0.0.1:1/none.pkl") -> str:
    return textwrap.dedent(f'''
        import mge.module as M
        from mge import hub

        dependencies = ["numpy"]
        VERSION = {version}


        @hub.pretrained("{weights_url}")
        def fc(out_features=2, **kwargs):
            """A Linear(3, out_features) layer (version {version})."""
            return M.Linear(3, out_features, **kwargs)


        def version():
            return VERSION
    ''')


@pytest.fixture
def git_root(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """``<root>/me/nets``: master (v2, parent v1), branch ``dev`` (v3) and tag ``v1``."""
    repo = tmp_path / "git" / "me" / "nets"
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    shas = {"v1": commit_files(repo, {"hubconf.py": _hubconf(1)}, "v1")}
    git(repo, "tag", "v1")
    shas["v2"] = commit_files(repo, {"hubconf.py": _hubconf(2)}, "v2")
    git(repo, "checkout", "-q", "-b", "dev")
    shas["v3"] = commit_files(repo, {"hubconf.py": _hubconf(3)}, "v3")
    git(repo, "checkout", "-q", "master")
    return tmp_path / "git", shas


def test_list_help_load_from_a_local_git_repository(git_root: tuple[Path, dict[str, str]],
                                                     mge_home: Path) -> None:
    root, _ = git_root
    host = str(root)
    assert hub.list("me/nets", git_host=host) == ["fc", "version"]
    doc = hub.help("me/nets", "fc", git_host=host)
    assert doc == "A Linear(3, out_features) layer (version 2)."
    net = hub.load("me/nets", "fc", git_host=host, out_features=5)
    assert net.weight.shape == (5, 3)
    assert hub.import_module("me/nets", host).VERSION == 2
    cached = list((mge_home / "hub").iterdir())
    repo_dirs = [p for p in cached if p.is_dir()]
    assert len(repo_dirs) == 1 and repo_dirs[0].name.startswith("0_1_0_")
    assert (repo_dirs[0] / "hubconf.py").is_file() and not (repo_dirs[0] / ".git").exists()


def test_branches_tags_commits_and_file_urls(git_root: tuple[Path, dict[str, str]]) -> None:
    root, shas = git_root
    for host in (str(root), root.as_uri()):
        assert hub.load("me/nets:dev", "version", git_host=host) == 3
        assert hub.load("me/nets:v1", "version", git_host=host) == 1
        assert hub.load("me/nets", "version", git_host=host, commit=shas["v1"]) == 1
        assert hub.load("me/nets:master", "version", git_host=host) == 2


def test_use_cache(git_root: tuple[Path, dict[str, str]]) -> None:
    root, _ = git_root
    assert hub.load("me/nets", "version", git_host=str(root)) == 2
    commit_files(root / "me" / "nets", {"hubconf.py": _hubconf(4)}, "v4")
    assert hub.load("me/nets", "version", git_host=str(root)) == 2  # cached code
    assert hub.load("me/nets", "version", git_host=str(root), use_cache=False) == 4
    assert hub.load("me/nets", "version", git_host=str(root)) == 4


def test_bare_repository_with_git_suffix(git_root: tuple[Path, dict[str, str]],
                                         tmp_path: Path) -> None:
    root, _ = git_root
    bare = tmp_path / "bare" / "me" / "nets.git"
    git(tmp_path, "clone", "-q", "--bare", str(root / "me" / "nets"), str(bare))
    assert hub.load("me/nets:dev", "version", git_host=str(tmp_path / "bare")) == 3


def test_fetch_errors(git_root: tuple[Path, dict[str, str]], mge_home: Path) -> None:
    root, _ = git_root
    host = str(root)
    with pytest.raises(InvalidRepo, match="'owner/repo"):
        hub.list("nets", git_host=host)
    with pytest.raises(InvalidRepo, match="no git repository"):
        hub.list("me/other", git_host=host)
    with pytest.raises(InvalidProtocol, match="'FTP'"):
        hub.list("me/nets", git_host=host, protocol="FTP")
    with pytest.raises(InvalidGitHost, match="malformed"):
        hub.list("me/nets", git_host="not a host")
    with pytest.raises(GitPullError, match="nope"):
        hub.list("me/nets:nope", git_host=host)
    with pytest.raises(GitCheckoutError, match="deadbeef"):
        hub.list("me/nets", git_host=host, commit="deadbeef")
    # failed fetches leave no repository behind
    assert [p for p in (mge_home / "hub").iterdir() if p.is_dir()] == []
    with pytest.raises(RuntimeError, match=r"Cannot find callable missing .*entries: fc, version"):
        hub.load("me/nets", "missing", git_host=host)


def test_missing_dependencies(tmp_path: Path) -> None:
    (tmp_path / "hubconf.py").write_text(
        "dependencies = ['numpy', 'no_such_module_mge']\n\ndef f():\n    return 1\n"
    )
    with pytest.raises(RuntimeError, match="Missing dependencies: no_such_module_mge"):
        hub.load(str(tmp_path), "f")
    assert hub.list(tmp_path) == ["f"]  # list does not check dependencies


def test_local_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "plain"
    repo.mkdir()
    (repo / "helper_mod_for_hub_test.py").write_text("def seven():\n    return 7\n")
    (repo / "hubconf.py").write_text(
        "from helper_mod_for_hub_test import seven\n\n\ndef answer(x=0):\n    return seven() + x\n"
    )
    assert hub.load(str(repo), "answer", 1) == 8
    monkeypatch.chdir(tmp_path)
    assert hub.load("./plain", "answer") == 7
    assert hub.import_module(repo).answer() == 7
    with pytest.raises(InvalidRepo, match="has no hubconf.py"):
        hub.list(str(tmp_path))
    with pytest.raises(InvalidRepo, match="is not a directory"):
        hub.list(str(tmp_path / "absent"))


def _zip_of(files: dict[str, str], top: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zipped:
        for name, text in files.items():
            zipped.writestr(f"{top}/{name}", text)
    return buf.getvalue()


def test_https_style_archives(file_server: FileServer) -> None:
    file_server.files["/me/nets/archive/master.zip"] = _zip_of(
        {"hubconf.py": _hubconf(2)}, "nets-master"
    )
    file_server.files["/me/nets/archive/v1.zip"] = _zip_of({"hubconf.py": _hubconf(1)}, "nets-v1")
    host = file_server.url("")
    assert hub.load("me/nets", "version", git_host=host) == 2
    assert hub.load("me/nets:v1", "version", git_host=host) == 1
    assert hub.load("me/nets", "version", git_host=host, commit="v1") == 1
    with pytest.raises(GitPullError, match=r"/me/nets/archive/nope\.zip \(HTTP Error 404"):
        hub.list("me/nets:nope", git_host=host)
    with pytest.raises(InvalidGitHost, match="SSH needs a host name"):
        hub.list("me/nets", git_host=host, protocol="SSH")


def test_pretrained_entry_from_a_git_repository(git_root: tuple[Path, dict[str, str]],
                                                file_server: FileServer) -> None:
    root, _ = git_root
    reference = mge.module.Linear(3, 4)
    buf = io.BytesIO()
    mge.save(reference.state_dict(), buf)
    file_server.files["/w/fc4.pkl"] = buf.getvalue()
    commit_files(root / "me" / "nets",
                 {"hubconf.py": _hubconf(5, file_server.url("/w/fc4.pkl"))}, "v5")
    net = hub.load("me/nets", "fc", git_host=str(root), pretrained=True, out_features=4)
    np.testing.assert_array_equal(net.weight.numpy(), reference.weight.numpy())
    again = hub.load("me/nets", "fc", git_host=str(root), pretrained=True, out_features=4)
    np.testing.assert_array_equal(again.bias.numpy(), reference.bias.numpy())
    assert len(file_server.gets("/w/fc4.pkl")) == 1


def test_git_missing_is_reported(git_root: tuple[Path, dict[str, str]],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = git_root
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GitPullError, match="git is not installed"):
        hub.list("me/nets", git_host=str(root))


def test_ssh_clones_with_git_and_never_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append((args, kwargs["env"]))
        return subprocess.CompletedProcess(args, 128, "", "ssh: connect to host: no network")

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.delenv("GIT_SSH_COMMAND", raising=False)
    with pytest.raises(GitPullError, match="no network"):
        hub.list("me/nets:v2", git_host="git.example.com", protocol="SSH")
    (args, env), = calls
    assert args[:2] == ["git", "clone"] and args[-2] == "git@git.example.com:me/nets.git"
    assert "-b" in args and args[args.index("-b") + 1] == "v2"
    assert env["GIT_TERMINAL_PROMPT"] == "0" and "BatchMode=yes" in env["GIT_SSH_COMMAND"]
