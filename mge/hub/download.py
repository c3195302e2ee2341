"""Downloads into a cache: streamed, resumable, checksummed and atomic.

A file is streamed to ``<dst>.partial`` and renamed to ``<dst>`` only once it is complete
(as long as the server's ``Content-Length``/``Content-Range`` says) and, when a sha256 is
expected, verified. An HTML page is never taken for the file, whatever its status. An
interrupted download leaves the partial file and the server's validator (a strong
``ETag``, else ``Last-Modified``) in ``<dst>.partial.validator``; the next attempt resumes
with ``Range`` and ``If-Range``, so a server whose file changed meanwhile sends the new
file whole and no download is ever spliced from two versions. A partial file without a
validator is discarded. A checksum mismatch deletes the partial file, so nothing corrupt
stays in the cache. Every download has an overall deadline besides the per-read timeout.
Sources are ``http://``, ``https://`` and ``file://`` URLs or local paths; a progress bar
(tqdm) shows on a terminal.

Example:
    >>> import os, tempfile
    >>> from mge.hub.download import download_url_to_file
    >>> src = os.path.join(tempfile.mkdtemp(), "w.bin")
    >>> _ = open(src, "wb").write(b"weights")
    >>> dst = os.path.join(tempfile.mkdtemp(), "cache", "w.bin")
    >>> download_url_to_file(src, dst, sha256="9a1290", progress=False)[:6]
    '9a1290'
    >>> open(dst, "rb").read()
    b'weights'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ..utils.atomic_file import replace_file, write_file
from .const import CHUNK_SIZE, DOWNLOAD_DEADLINE, HTTP_TIMEOUT
from .exceptions import ChecksumMismatchError, HTTPDownloadError

if TYPE_CHECKING:
    import http.client

try:
    import fcntl
except ImportError:  # Windows: downloads are not guarded against concurrent processes
    fcntl = None  # type: ignore[assignment]

_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")
_HEX = re.compile(r"[0-9a-f]{6,64}")


@contextlib.contextmanager
def file_lock(path: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) so that concurrent processes
    fill one cache entry one at a time; a no-op where ``fcntl`` is missing. The lock file
    is removed on release (a waiter that then holds a removed file locks a fresh one).

    Example:
        >>> import os, tempfile
        >>> with file_lock(os.path.join(tempfile.mkdtemp(), "x.lock")):
        ...     pass
    """
    if fcntl is None:
        yield
        return
    while True:
        with open(path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                continue  # its holder removed it: lock the next one
            if not os.path.samestat(current, os.fstat(handle.fileno())):
                continue
            try:
                yield
            finally:
                os.remove(path)
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return


def file_sha256(path: str) -> str:
    """The sha256 hex digest of the file at ``path``.

    Example:
        >>> import os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "f")
        >>> _ = open(p, "wb").write(b"")
        >>> file_sha256(p)[:8]
        'e3b0c442'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def normalize_sha256(sha256: str | None) -> str | None:
    """Check an expected sha256 (the full 64 hex digits or a prefix of at least 6).

    Example:
        >>> normalize_sha256("ABCDEF12")
        'abcdef12'
    """
    if sha256 is None:
        return None
    value = sha256.strip().lower()
    if not _HEX.fullmatch(value):
        raise ValueError(
            f"mge.hub: sha256 should be 6 to 64 hexadecimal digits, got {sha256!r}"
        )
    return value


def _source_url(url: str) -> str:
    """``url`` as a URL urllib opens: http(s)/file URLs as given, local paths as file URLs."""
    scheme = urlparse(url).scheme
    if scheme in ("http", "https", "file"):
        return url
    if scheme and len(scheme) > 1:  # one letter is a Windows drive
        raise HTTPDownloadError(
            f"mge.hub: cannot download {url}: unsupported URL scheme {scheme!r} "
            "(use http://, https://, file:// or a local path)"
        )
    return Path(url).expanduser().resolve().as_uri()


def _unreachable(url: str, dst: str, reason: object) -> HTTPDownloadError:
    return HTTPDownloadError(
        f"mge.hub: cannot download {url} ({reason}). If this machine is offline, get the "
        f"file elsewhere and put it at {dst} (mge uses a file found there without "
        "downloading it)."
    )


_HTML = re.compile(rb"\s*<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.IGNORECASE)


def _validator(response: http.client.HTTPResponse) -> str | None:
    """What identifies this version of the file: a strong ETag, else Last-Modified."""
    etag = response.headers.get("ETag", "").strip()
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified", "").strip() or None


def _check_not_html(response: http.client.HTTPResponse, first: bytes, url: str,
                    dst: str) -> None:
    kind = response.headers.get("Content-Type", "") or ""
    if kind.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml") or (
            _HTML.match(first[:512])):
        raise HTTPDownloadError(
            f"mge.hub: {url} answered with an HTML page (Content-Type {kind or 'none'!r}), "
            f"not the file: a login, error or redirect page? Nothing was stored at {dst}."
        )


def _resume_point(response: http.client.HTTPResponse, offset: int, url: str
                  ) -> tuple[int, int | None]:
    """Where the response body starts in the file, and the file's full size if known."""
    if getattr(response, "status", None) == 206:
        found = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if found is None or int(found.group(1)) != offset:
            raise HTTPDownloadError(
                f"mge.hub: {url} answered a request for bytes {offset}- with "
                f"Content-Range {response.headers.get('Content-Range')!r}"
            )
        size = found.group(2)
        return offset, None if size == "*" else int(size)
    length = response.headers.get("Content-Length")
    return 0, int(length) if length and length.isdigit() else None


def _stream(response: http.client.HTTPResponse, url: str, dst: str, start: int,
            total: int | None, progress: bool, deadline: float) -> None:
    """Append (from ``start``) the response body to ``<dst>.partial``, with a progress bar;
    stop at the monotonic time ``deadline``."""
    import http.client  # network modules load on first use: they slow down `import mge`

    from tqdm import tqdm

    partial = dst + ".partial"
    written = start
    bar = tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
               desc=os.path.basename(dst), disable=None if progress else True)
    read = getattr(response, "read1", response.read)  # what has arrived: a slow server
    try:                                                # cannot hold off the deadline
        with open(partial, "ab" if start else "wb") as out:
            while block := read(CHUNK_SIZE):
                if written == 0:
                    _check_not_html(response, block, url, dst)
                out.write(block)
                written += len(block)
                bar.update(len(block))
                if total is not None and written > total:
                    raise HTTPDownloadError(f"mge.hub: {url} sent more than the {total} bytes "
                                            f"it announced; nothing was stored at {dst}")
                if time.monotonic() > deadline:
                    raise TimeoutError("the download's overall deadline passed")
    except HTTPDownloadError:
        _discard(partial)
        raise
    except (OSError, http.client.HTTPException) as error:
        reason = error
    else:
        if total is None or written == total:
            return
        reason = f"the connection closed at {written} of {total} bytes"
    finally:
        bar.close()
    raise HTTPDownloadError(
        f"mge.hub: download of {url} stopped ({reason}); {written} bytes are kept in "
        f"{partial} and the next attempt resumes from there."
    )


def _discard(partial: str) -> None:
    for path in (partial, partial + ".validator"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _saved_validator(partial: str) -> str | None:
    """The validator saved with a partial download; without one the partial is discarded
    (nothing proves it comes from the version the server has now)."""
    try:
        with open(partial + ".validator", encoding="utf-8") as handle:
            return handle.read().strip() or None
    except (OSError, UnicodeDecodeError):
        _discard(partial)
        return None


def _fetch(url: str, dst: str, progress: bool, timeout: float, deadline: float) -> None:
    import http.client
    import urllib.error
    import urllib.request

    partial = dst + ".partial"
    offset = os.path.getsize(partial) if os.path.exists(partial) else 0
    saved = _saved_validator(partial) if offset else None
    offset = offset if saved else 0
    request = urllib.request.Request(_source_url(url), headers={"User-Agent": "mge-hub"})
    if offset and saved:
        request.add_header("Range", f"bytes={offset}-")
        request.add_header("If-Range", saved)
    left = deadline - time.monotonic()
    if left <= 0:
        raise HTTPDownloadError(f"mge.hub: download of {url} passed its overall deadline")
    try:
        response = urllib.request.urlopen(request, timeout=min(timeout, left))
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # the partial file is no prefix: start over
            _discard(partial)
            return _fetch(url, dst, progress, timeout, deadline)
        raise _unreachable(url, dst, f"HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise _unreachable(url, dst, getattr(error, "reason", error)) from error
    with response:
        start, total = _resume_point(response, offset, url)
        validator = _validator(response)
        if start and validator is not None and validator != saved:
            _discard(partial)  # a 206 of another version: never splice
            raise HTTPDownloadError(
                f"mge.hub: {url} changed since the partial download (validator {saved!r}, "
                f"now {validator!r}); the partial file was discarded, try again")
        if not start:
            _discard(partial)
            if validator is not None:
                write_file(partial + ".validator", validator.encode("utf-8"))
        _stream(response, url, dst, start, total, progress, deadline)


def download_url_to_file(url: str, dst: str | os.PathLike, *, sha256: str | None = None,
                         progress: bool = True, timeout: float = HTTP_TIMEOUT,
                         deadline: float = DOWNLOAD_DEADLINE) -> str:
    """Download ``url`` to ``dst`` atomically and return the file's sha256 hex digest.

    Args:
        url: an ``http://``, ``https://`` or ``file://`` URL, or a local path.
        dst: the final path; the data goes to ``<dst>.partial`` first (resumed when it
            exists) and is renamed to ``dst`` once complete and verified. If ``dst``
            already exists nothing is downloaded.
        sha256: the expected sha256 (64 hex digits, or a prefix of at least 6); None
            skips the check.
        progress: show a tqdm progress bar (only on a terminal).
        timeout: seconds to wait for the connection and for each read.
        deadline: seconds the whole download may take (what is downloaded by then is
            kept for the next attempt).

    Raises:
        HTTPDownloadError: when the source cannot be reached (the message names the URL
            and ``dst``, where the file can be put by hand) or the transfer breaks off
            (the partial file is kept for the next attempt), or the server sends an HTML
            page or a resume of a changed file (nothing is kept).
        ChecksumMismatchError: when the data does not match ``sha256``; the partial
            file is deleted and the message names the URL, both hashes and ``dst``.

    Example:
        >>> download_url_to_file("https://example.com/w.pkl", "/tmp/w.pkl")  # doctest: +SKIP
        '5f0c...'
    """
    expected = normalize_sha256(sha256)
    dst = os.path.abspath(os.fspath(dst))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    partial = dst + ".partial"
    end = time.monotonic() + deadline
    with file_lock(dst + ".lock"):
        if os.path.exists(dst):  # another process finished it meanwhile
            return file_sha256(dst)
        _fetch(url, dst, progress, timeout, end)
        actual = file_sha256(partial)
        if expected is not None and not actual.startswith(expected):
            _discard(partial)
            raise ChecksumMismatchError(
                f"mge.hub: checksum mismatch for {url}: expected sha256 {expected}, got "
                f"{actual}. The download was discarded; nothing was stored at {dst}."
            )
        replace_file(partial, dst)
        _discard(partial)  # the validator
    return actual


__all__ = ["download_url_to_file", "file_lock", "file_sha256", "normalize_sha256"]
