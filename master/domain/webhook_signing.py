"""The signature every webhook delivery carries (DESIGN §13), as a pure function.

``X-EchoFS-Signature: sha256=<hex>`` is HMAC-SHA256 of the exact request body under the
webhook's secret; a receiver recomputes it over the bytes it received and compares in
constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["signature"]


def signature(secret: bytes, body: bytes) -> str:
    """The ``X-EchoFS-Signature`` value: ``sha256=<hex HMAC-SHA256 of body>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
