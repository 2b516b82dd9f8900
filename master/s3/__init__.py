"""The S3-compatible gateway (DESIGN §17): an HTTP edge of the master, like ``master.api``.

It parses S3 requests (addressing, SigV4, aws-chunked bodies, XML), calls
``master.services`` and renders S3's XML; it never reads the metadata store itself.
"""
