"""The S3 gateway's use cases, grouped as the container hands them to ``master.s3``."""

from __future__ import annotations

from dataclasses import dataclass

from master.services.multipart import MultipartService
from master.services.object_listing import ObjectListing
from master.services.objects import ObjectService
from master.services.s3_keys import GatewayKeys

__all__ = ["GatewayServices"]


@dataclass(frozen=True)
class GatewayServices:
    objects: ObjectService
    listing: ObjectListing
    multipart: MultipartService
    keys: GatewayKeys
