"""EchoFS Python SDK and the ``echofs`` CLI (DESIGN §14).

``Client`` (sync) and ``AsyncClient`` expose the same operations; their requests and
answers are ``client.protocol``'s, errors are ``common.errors``' classes (plus
``client.errors``' transport ones), settings come from ``client.config``.
"""

from client.async_client import AsyncClient
from client.config import ClientConfig
from client.errors import ConnectionFailed, ProtocolError, ServerError
from client.sync_client import Client

__all__ = ["AsyncClient", "Client", "ClientConfig", "ConnectionFailed", "ProtocolError",
           "ServerError"]
