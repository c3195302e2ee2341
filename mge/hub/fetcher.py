"""Fetch a repository that holds a ``hubconf.py`` into the hub cache.

``repo_info`` is ``"owner/repo[:branch_or_tag]"``; where it comes from depends on
``git_host`` (and ``protocol``, as in MegEngine):

* a host name or IPv4 address (default ``github.com``): ``protocol="HTTPS"`` downloads
  ``https://<host>/<owner>/<repo>/archive/<commit or branch, default master>.zip``;
  ``protocol="SSH"`` runs ``git clone git@<host>:<owner>/<repo>.git``;
* an ``http://`` or ``https://`` URL: its archives, ``<url>/<owner>/<repo>/archive/<ref>.zip``;
* a local directory (absolute, or starting with ``.`` or ``~``) or a ``file://`` URL: the
  git repository ``<dir>/<owner>/<repo>`` (or ``<repo>.git``) is cloned (mge's addition).

A git clone takes the branch or tag given, else the repository's default branch; with
``commit`` it clones everything and checks that commit out. Each fetch lands in a
temporary directory and is renamed into ``<hub cache>/<version>_<hash>`` only when
complete and checked (a ``hubconf.py`` at its top, no symbolic links, at most
``MAX_REPO_FILES`` files and ``MAX_REPO_BYTES`` bytes, checked on an archive's declared
sizes before anything is unpacked); ``.git`` is removed, as MegEngine does.

Example:
    >>> parse_repo_info("megengine/models:v1.0")
    ('megengine', 'models', 'v1.0')
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from .const import DEFAULT_BRANCH_NAME, GIT_TIMEOUT, HUBCONF, MAX_REPO_BYTES, MAX_REPO_FILES
from .download import download_url_to_file, file_lock
from .exceptions import (
    GitCheckoutError,
    GitPullError,
    HTTPDownloadError,
    InvalidGitHost,
    InvalidProtocol,
    InvalidRepo,
)

PROTOCOLS = ("HTTPS", "SSH")
_DOMAIN = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9][a-z0-9_-]{0,61}[a-z]", re.IGNORECASE
)
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def parse_repo_info(repo_info: str) -> tuple[str, str, str | None]:
    """Split ``"owner/repo[:branch_or_tag]"`` into ``(owner, repo, branch or None)``.

    Example:
        >>> parse_repo_info("megengine/models")
        ('megengine', 'models', None)
    """
    prefix, _, branch = repo_info.partition(":")
    owner, _, name = prefix.partition("/")
    if not (_NAME.fullmatch(owner) and _NAME.fullmatch(name)) or (":" in repo_info and not branch):
        raise InvalidRepo(
            f"mge.hub: repo_info {repo_info!r} is invalid; expected 'owner/repo[:branch_or_tag]' "
            "or a local directory holding a hubconf.py"
        )
    return owner, name, branch or None


def _local_root(git_host: str) -> Path | None:
    """The directory a local ``git_host`` names (a path or a file:// URL), else None."""
    if git_host.startswith("file://"):
        return Path(unquote(urlparse(git_host).path))
    if os.path.isabs(git_host) or git_host.startswith((".", "~")):
        return Path(git_host).expanduser().resolve()
    return None


def _check_host(git_host: str) -> None:
    octets = git_host.split(".")
    is_ip = len(octets) == 4 and all(o.isdigit() and int(o) < 256 for o in octets)
    if not (is_ip or _DOMAIN.fullmatch(git_host)):
        raise InvalidGitHost(
            f"mge.hub: git_host {git_host!r} is malformed; give a host name (github.com), an "
            "http(s):// URL, a local directory or a file:// URL"
        )


def _git(args: list[str], error: type[Exception], cwd: str | None = None) -> None:
    # never wait for a password or a host-key answer
    env = {"GIT_SSH_COMMAND": "ssh -o BatchMode=yes", **os.environ, "GIT_TERMINAL_PROMPT": "0"}
    command = "git " + " ".join(args)
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT, check=False)
    except FileNotFoundError as exc:
        raise error(f"mge.hub: `{command}` failed: git is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise error(f"mge.hub: `{command}` took more than {GIT_TIMEOUT:.0f} s") from exc
    if done.returncode:
        raise error(f"mge.hub: `{command}` failed:\n{done.stderr.strip()}")


def _clone(url: str, branch: str | None, commit: str | None, dest: str) -> None:
    if commit is None:
        _git(["clone", "-q", "--depth=1", *(["-b", branch] if branch else []), "--", url, dest],
             GitPullError)
    else:
        _git(["clone", "-q", "--", url, dest], GitPullError)
        _git(["checkout", "-q", commit], GitCheckoutError, cwd=dest)
    shutil.rmtree(os.path.join(dest, ".git"))


def _local_repo_url(root: Path, owner: str, name: str) -> str:
    for candidate in (root / owner / name, root / owner / f"{name}.git"):
        if candidate.is_dir():
            return candidate.as_uri()
    raise InvalidRepo(f"mge.hub: no git repository {root / owner / name}[.git]")


def _check_archive(zipped: zipfile.ZipFile, url: str) -> None:
    """Refuse an archive that is empty, holds symlinks, or unpacks past the limits
    (checked on the sizes it declares; zipfile never writes more than those)."""
    members = zipped.infolist()
    if not any(not m.is_dir() for m in members):
        raise GitPullError(f"mge.hub: the repository archive {url} is empty")
    links = [m.filename for m in members if stat.S_ISLNK(m.external_attr >> 16)]
    if links:
        raise GitPullError(f"mge.hub: the repository archive {url} holds symbolic links "
                           f"({', '.join(links[:3])}); mge refuses links in hub repositories")
    size = sum(m.file_size for m in members)
    if len(members) > MAX_REPO_FILES or size > MAX_REPO_BYTES:
        raise GitPullError(
            f"mge.hub: the repository archive {url} unpacks to {len(members)} files and "
            f"{size} bytes, over the limits of {MAX_REPO_FILES} files and {MAX_REPO_BYTES} "
            "bytes (mge.hub.const.MAX_REPO_FILES / MAX_REPO_BYTES)"
        )


def _check_tree(root: str, source: str) -> None:
    """Refuse a fetched repository with symlinks or past the size limits."""
    count = size = 0
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                raise GitPullError(f"mge.hub: the repository {source} holds the symbolic link "
                                   f"{os.path.relpath(path, root)}; mge refuses links in hub "
                                   "repositories")
        count += len(files)
        size += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
        if count > MAX_REPO_FILES or size > MAX_REPO_BYTES:
            raise GitPullError(f"mge.hub: the repository {source} is over the limits of "
                               f"{MAX_REPO_FILES} files and {MAX_REPO_BYTES} bytes")


def _download_archive(url: str, dest: str) -> None:
    """Download a zip archive of a repository and unpack its top directory as ``dest``."""
    archive = dest + ".zip"
    try:
        download_url_to_file(url, archive)
    except HTTPDownloadError as exc:
        raise GitPullError(
            f"mge.hub: cannot download the repository archive {url} ({exc.__cause__ or exc}). "
            "Offline, put a copy of the repository in a local directory and pass that "
            "directory as repo_info."
        ) from exc
    unpacked = dest + ".unpacked"
    try:
        with zipfile.ZipFile(archive) as zipped:
            _check_archive(zipped, url)
            zipped.extractall(unpacked)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise GitPullError(f"mge.hub: {url} is not a zip archive of a repository ({exc})"
                           ) from exc
    finally:
        os.remove(archive)
    entries = os.listdir(unpacked)
    top = os.path.join(unpacked, entries[0]) if len(entries) == 1 else unpacked
    os.replace(top if os.path.isdir(top) else unpacked, dest)


def _cache_name(*key: str | None) -> str:
    from mge import __version__

    digest = hashlib.sha1("|".join(k or "" for k in key).encode()).hexdigest()[:16]
    return "_".join(__version__.split(".")) + "_" + digest


def fetch_repo(git_host: str, repo_info: str, cache_dir: str, use_cache: bool = True,
               commit: str | None = None, protocol: str = "HTTPS") -> str:
    """Fetch ``repo_info`` from ``git_host`` into ``cache_dir``; return its directory.

    With ``use_cache`` an earlier fetch of the same host, repository, branch and commit is
    reused; otherwise it is fetched again.

    Example:
        >>> fetch_repo("/srv/git", "me/nets:v2", "/tmp/hub")  # doctest: +SKIP
        '/tmp/hub/0_1_0_3f1c2a9d0b7e6f51'

    Raises:
        InvalidProtocol, InvalidGitHost, InvalidRepo: on malformed arguments.
        GitPullError, GitCheckoutError, HTTPDownloadError: when fetching fails.
    """
    if protocol not in PROTOCOLS:
        raise InvalidProtocol(f"mge.hub: protocol {protocol!r} is invalid; use one of {PROTOCOLS}")
    owner, name, branch = parse_repo_info(repo_info)
    root = _local_root(git_host)
    web = urlparse(git_host).scheme in ("http", "https")
    if root is None and not web:
        _check_host(git_host)
    if web and protocol == "SSH":
        raise InvalidGitHost(f"mge.hub: git_host {git_host!r} is a web URL; SSH needs a host name")
    target = os.path.join(cache_dir, _cache_name(git_host, protocol, owner, name, branch, commit))
    os.makedirs(cache_dir, exist_ok=True)
    with file_lock(target + ".lock"):
        if use_cache and os.path.isdir(target):
            return target
        work = tempfile.mkdtemp(prefix=".fetch-", dir=cache_dir)
        try:
            dest = os.path.join(work, "repo")
            if root is not None:
                _clone(_local_repo_url(root, owner, name), branch, commit, dest)
            elif protocol == "SSH":
                _clone(f"git@{git_host}:{owner}/{name}.git", branch, commit, dest)
            else:
                base = git_host.rstrip("/") if web else f"https://{git_host}"
                ref = commit or branch or DEFAULT_BRANCH_NAME
                _download_archive(f"{base}/{owner}/{name}/archive/{ref}.zip", dest)
            _check_tree(dest, f"{git_host}:{repo_info}")
            if not os.path.isfile(os.path.join(dest, HUBCONF)):
                raise InvalidRepo(f"mge.hub: the repository {repo_info} (from {git_host}) has "
                                  f"no {HUBCONF} at its top; it was not kept in the cache")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(dest, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


__all__ = ["PROTOCOLS", "fetch_repo", "parse_repo_info"]
