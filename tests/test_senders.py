"""Who sent a request (``otlp_bridge.translate.senders``): a sender's id tells resources apart, and its name is what
its resource says, cut to a bounded length."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from otlp_bridge.translate.senders import MAX_VALUE_CHARS, SENDER_ID_BYTES, SenderKey, identify, sender_id


def resource(**attributes: str | int) -> Resource:
    """A resource of these attributes (``_`` in a name for ``.``)."""
    return Resource(
        attributes=[KeyValue(key=key.replace("_", "."), value=any_value(value)) for key, value in attributes.items()]
    )


def any_value(value: str | int) -> AnyValue:
    return AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)


attribute_sets = st.dictionaries(
    st.sampled_from(["service_name", "host_name", "host_id", "process_pid", "service_instance_id"]),
    st.text(max_size=40) | st.integers(min_value=0, max_value=1 << 40),
)


@given(attribute_sets, attribute_sets)
def test_a_sender_id_is_the_same_for_the_same_resource_and_tells_others_apart(
    first: dict[str, str | int], second: dict[str, str | int]
) -> None:
    one, other = resource(**first).SerializeToString(), resource(**second).SerializeToString()
    assert len(sender_id(one)) == SENDER_ID_BYTES
    assert sender_id(one) == sender_id(bytes(one))
    assert (sender_id(one) == sender_id(other)) == (one == other)


IDENTITY_ROWS = [
    ("a gateway", {"service_name": "openclaw-gateway", "host_name": "vm-1"}, SenderKey("openclaw-gateway", "vm-1", "")),
    (
        "with an instance id",
        {"service_name": "gw", "host_name": "h", "service_instance_id": "i-1"},
        SenderKey("gw", "h", "i-1"),
    ),
    ("no service name", {"host_name": "vm-1"}, SenderKey("unknown", "vm-1", "")),
    ("other attributes only", {"process_pid": 42}, SenderKey("unknown", "", "")),
    ("a long host name", {"service_name": "gw", "host_name": "h" * 1_000}, SenderKey("gw", "h" * MAX_VALUE_CHARS, "")),
]


@pytest.mark.parametrize(("case", "attributes", "expected"), IDENTITY_ROWS, ids=[row[0] for row in IDENTITY_ROWS])
def test_a_sender_is_named_by_its_service_host_and_instance(
    case: str, attributes: dict[str, str | int], expected: SenderKey
) -> None:
    assert identify(resource(**attributes)) == expected
