"""A TCP fault proxy on loopback in front of one worker, for experiments (issue 23).

The worker advertises the proxy's address (``WORKER_ADVERTISE_ADDRESS``), so the master,
the controller and the other workers (``ReplicateChunk``) all dial it; TLS passes through
untouched. The experiment that owns the proxy switches what it lets through:

- ``heal()``: everything;
- ``cut()``: nothing — open connections are closed and new ones are closed on accept
  (a pulled cable: the worker keeps running and keeps heartbeating to the master, whose
  HTTP port is not behind the proxy; the master cannot reach it);
- ``cut_from(pids)``: only connections whose client socket belongs to one of these
  processes (e.g. the master's), found through ``/proc/net/tcp`` and ``/proc/<pid>/fd``.
  Everything else passes: a partition one side sees and the other does not.

Linux only (``/proc``); loopback IPv4 only. Not for production.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FaultProxy", "socket_owner"]

log = logging.getLogger(__name__)

BUFFER_BYTES = 256 * 1024


def _socket_inode(client_port: int, server_port: int) -> str | None:
    """The inode of the socket whose local port is ``client_port`` and remote port is
    ``server_port`` (the client end of a connection to the proxy)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                if (int(local.rsplit(":", 1)[1], 16) == client_port
                        and int(remote.rsplit(":", 1)[1], 16) == server_port):
                    return inode
    return None


def socket_owner(client_port: int, server_port: int, pids: set[int]) -> int | None:
    """Which of ``pids`` holds the client end of this loopback connection, if any."""
    inode = _socket_inode(client_port, server_port)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return pid
    return None


@dataclass(eq=False)
class _Link:
    client_port: int
    writers: tuple[asyncio.StreamWriter, asyncio.StreamWriter]
    owner: int | None = None
    owner_known: bool = False

    def close(self) -> None:
        for writer in self.writers:
            with contextlib.suppress(Exception):
                writer.transport.abort()


@dataclass(eq=False)
class FaultProxy:
    target_host: str
    target_port: int
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    cut_all: bool = False
    cut_pids: set[int] = field(default_factory=set)
    links: set[_Link] = field(default_factory=set)
    refused: int = 0
    _server: asyncio.base_events.Server | None = None

    @property
    def address(self) -> str:
        return f"{self.listen_host}:{self.listen_port}"

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(
            self._accept, self.listen_host, self.listen_port)
        self.listen_port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self.links):
            link.close()
        if self._server is not None:
            await self._server.wait_closed()

    # --- switches --------------------------------------------------------------------

    def heal(self) -> None:
        self.cut_all, self.cut_pids = False, set()

    def cut(self) -> None:
        self.cut_all = True
        for link in list(self.links):
            link.close()

    def cut_from(self, pids: set[int]) -> None:
        self.cut_all, self.cut_pids = False, set(pids)
        for link in list(self.links):
            if self._blocked(link):
                link.close()

    def _blocked(self, link: _Link) -> bool:
        if self.cut_all:
            return True
        if not self.cut_pids:
            return False
        if not link.owner_known:
            link.owner = socket_owner(link.client_port, self.listen_port, self.cut_pids)
            link.owner_known = True
        return link.owner is not None

    # --- forwarding ------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer.get_extra_info("peername")[1], (writer, writer))
        if self._blocked(link):
            self.refused += 1
            link.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        link.writers = (writer, up_writer)
        if self._blocked(link):  # cut while the upstream connection was being made
            self.refused += 1
            link.close()
            return
        self.links.add(link)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self.links.discard(link)
            link.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(BUFFER_BYTES):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.transport.abort()
