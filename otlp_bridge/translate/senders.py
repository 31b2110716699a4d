"""Who sent a request, as the translator keeps it: a sender's id, a digest of its serialised resource (what the
tables of its state are keyed by: a gateway's resource is about 800 bytes, kept once per sender it would be a tenth
of a fleet's state), and its name (service, host, instance: what the status page shows).

Pure.
"""

from __future__ import annotations

import hashlib
import sys
from typing import NamedTuple

from opentelemetry.proto.resource.v1.resource_pb2 import Resource

MAX_VALUE_CHARS = 200  # a value that came from a sender, shown (a sender's name, a refused request's peer)
SENDER_ID_BYTES = 16  # 128 bits: no two resources of a fleet share an id


def sender_id(resource: bytes) -> bytes:
    """The id of a sender: a digest of its serialised resource."""
    return hashlib.blake2b(resource, digest_size=SENDER_ID_BYTES).digest()


class SenderKey(NamedTuple):
    """A sender as its resource names it; ``""`` where the attribute is absent."""

    service: str
    host: str
    instance: str


def identify(resource: Resource) -> SenderKey:
    """``service.name``, ``host.name`` and ``service.instance.id`` of an OTLP resource."""
    wanted = {"service.name": "", "host.name": "", "service.instance.id": ""}
    for attribute in resource.attributes:
        if attribute.key in wanted:
            wanted[attribute.key] = attribute.value.string_value[:MAX_VALUE_CHARS]
    service = sys.intern(wanted["service.name"] or "unknown")  # (a fleet's gateways share theirs)
    return SenderKey(service, wanted["host.name"], wanted["service.instance.id"])


class ExportSender(NamedTuple):
    """A sender of a known export (``otlp_bridge.translate.exports``): its id, its name, and the temporality of its
    first metric (what the status page reads of a request the whole-export path took, never decoded)."""

    id: bytes
    key: SenderKey
    temporality: str
