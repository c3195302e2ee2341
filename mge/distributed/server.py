"""The rendezvous of ``mge.distributed`` (MegEngine's ``Server``/``Client``) on torch's
``TCPStore``.

The master process runs a :class:`Server` (a ``TCPStore`` master on ``port``; 0 picks a
free one, reported as ``py_server_port``); each worker's :class:`Client` connects to it.
The client offers MegEngine's key-value and barrier calls (``user_set``, ``user_get``,
``user_pop``, ``bcast_val``, ``group_barrier``); values are pickled. The gloo process group
of :func:`~mge.distributed.init_process_group` rendezvouses through the same store.

Example:
    >>> import pytest; _ = pytest.importorskip("torch")
    >>> server = Server()
    >>> client = Client("localhost", server.py_server_port)
    >>> client.user_set("lr", 0.1)
    >>> client.user_get("lr")
    0.1
"""

from __future__ import annotations

import datetime
import pickle
from collections import defaultdict
from typing import Any

from ._comm import require_torch, timeout_s


def _store(host: str, port: int, is_master: bool) -> Any:
    td = require_torch()
    return td.TCPStore(host, port, is_master=is_master, wait_for_workers=False,
                       timeout=datetime.timedelta(seconds=timeout_s()))


class Server:
    """The rendezvous server, run by the master process (rank 0's machine).

    Args:
        port: the TCP port; 0 chooses a free one.

    Example:
        >>> import pytest; _ = pytest.importorskip("torch")
        >>> Server().py_server_port > 0
        True
    """

    def __init__(self, port: int = 0) -> None:
        self._store = _store("0.0.0.0", port, True)
        self.py_server_port: int = int(self._store.port)
        self.mm_server_port: int = self.py_server_port


class Client:
    """A process's connection to the :class:`Server` at ``master_ip:port``.

    Example:
        >>> import pytest; _ = pytest.importorskip("torch")
        >>> server = Server()
        >>> Client("localhost", server.py_server_port).get_mm_server_port() > 0
        True
    """

    def __init__(self, master_ip: str, port: int) -> None:
        self.master_ip, self.port = master_ip, port
        self.store = _store(master_ip, port, False)
        self._rounds: dict[str, int] = defaultdict(int)

    def connect(self) -> None:
        """Check the server answers (the connection is made on construction)."""
        self.store.check([])

    def get_mm_server_port(self) -> int:
        """The port collectives rendezvous on (the same store in mge)."""
        return self.port

    def _next(self, kind: str, key: str) -> str:
        self._rounds[kind + key] += 1
        return f"mge/{kind}/{key}/{self._rounds[kind + key]}"

    def user_set(self, key: str, val: Any) -> None:
        """Store ``val`` under ``key`` for every process."""
        self.store.set(f"mge/user/{key}", pickle.dumps(val))

    def user_get(self, key: str) -> Any:
        """The value stored under ``key`` (waits until some process sets it)."""
        return pickle.loads(self.store.get(f"mge/user/{key}"))

    def user_pop(self, key: str) -> Any:
        """The value stored under ``key``, removed."""
        val = self.user_get(key)
        self.store.delete_key(f"mge/user/{key}")
        return val

    def bcast_val(self, val: Any, key: str, size: int) -> Any:
        """The root's ``val`` (the root passes it, the others ``None``) for all ``size``
        processes of the group ``key``."""
        slot = self._next("bcast", key)
        if val is not None:
            self.store.set(slot, pickle.dumps(val))
            return val
        return pickle.loads(self.store.get(slot))

    def group_barrier(self, key: str, size: int) -> None:
        """Return once all ``size`` processes of the group ``key`` called it."""
        slot = self._next("barrier", key)
        if self.store.add(slot, 1) == size:
            self.store.set(slot + "/done", b"1")
        self.store.wait([slot + "/done"])


__all__ = ["Client", "Server"]
