"""EchoFS Python SDK and the ``echofs`` CLI (DESIGN §14).

``Client`` (sync) and ``AsyncClient`` expose the same operations; their requests and
answers are ``client.protocol``'s, errors are ``common.errors``' classes (plus
``client.errors``' own ones), settings come from ``client.config``; the
``echofs`` command (``client.cli``, ``client.commands``) is a thin layer over them.
"""

from client.async_client import AsyncClient
from client.config import ClientConfig
from client.errors import (
    ConnectionFailed,
    ProtocolError,
    ServerError,
    TaskFailed,
    TransferIncomplete,
)
from client.sync_client import Client
from client.trees import TreeOptions

__all__ = ["AsyncClient", "Client", "ClientConfig", "ConnectionFailed", "ProtocolError",
           "ServerError", "TaskFailed", "TransferIncomplete", "TreeOptions"]
