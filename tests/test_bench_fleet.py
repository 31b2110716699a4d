"""The fleet workload of ``python -m bench --parts fleet`` (``bench/fleet.py``): cloned gateways carry the captured
export unchanged but for their resource, grow as their change profile says, and feed the naive baseline's shared
series. Nothing here asserts a time."""

from __future__ import annotations

import math
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bench.fleet import Fleet, FleetSpec
from bench.inproc import measure_fleet_translate
from bench.naive_bridge import NaiveBridge
from bench.report import build_table
from bench.workload import BASE_CAPTURE, CAPTURES, _capture_bodies


def _points(request: ExportMetricsServiceRequest, resource: int = 0) -> list[tuple[str, Any]]:
    out = []
    for scope_metrics in request.resource_metrics[resource].scope_metrics:
        for metric in scope_metrics.metrics:
            kind = str(metric.WhichOneof("data"))
            out += [(kind, point) for point in getattr(metric, kind).data_points]
    return out


def _resource(request: ExportMetricsServiceRequest, resource: int = 0) -> dict[str, Any]:
    attributes = request.resource_metrics[resource].resource.attributes
    return {pair.key: getattr(pair.value, str(pair.value.WhichOneof("value"))) for pair in attributes}


def test_first_export_is_the_captured_one_under_each_gateways_own_resource() -> None:
    captured = ExportMetricsServiceRequest.FromString(_capture_bodies(CAPTURES / BASE_CAPTURE)[-1])
    fleet = Fleet(FleetSpec(gateways=3))
    seen = set()
    for sender in fleet.gateways:
        request = ExportMetricsServiceRequest.FromString(sender.next_body())
        resource = _resource(request)
        seen.add((resource["host.name"], resource["host.id"], resource["process.pid"]))
        assert resource["service.name"] == _resource(captured)["service.name"]
        for (kind, point), (captured_kind, captured_point) in zip(_points(request), _points(captured), strict=True):
            assert kind == captured_kind
            point.time_unix_nano = captured_point.time_unix_nano
            assert point == captured_point
    assert len(seen) == 3


@pytest.mark.parametrize(("fraction", "changed"), [(0.10, 6), (1.0, 62), (0.0, 1)])
def test_each_export_grows_the_profiles_share_of_points(fraction: float, changed: int) -> None:
    (sender,) = Fleet(FleetSpec(gateways=1, change_fraction=fraction)).gateways
    before = ExportMetricsServiceRequest.FromString(sender.next_body())
    after = ExportMetricsServiceRequest.FromString(sender.next_body())
    grew = 0
    for (kind, old), (_, new) in zip(_points(before), _points(after), strict=True):
        assert new.time_unix_nano - old.time_unix_nano == 1_000_000_000
        assert new.start_time_unix_nano == old.start_time_unix_nano
        if kind == "histogram":
            assert sum(new.bucket_counts) == new.count >= old.count
            assert all(b >= a for a, b in zip(old.bucket_counts, new.bucket_counts, strict=True))
            assert new.sum >= old.sum
            grew += new.count > old.count
        else:
            assert new.as_double >= old.as_double
            grew += new.as_double > old.as_double
    assert grew == changed


def test_several_gateways_per_request_and_counter_totals() -> None:
    (sender,) = Fleet(FleetSpec(gateways=4, per_request=4, change_fraction=1.0)).gateways
    sender.next_body()
    request = ExportMetricsServiceRequest.FromString(sender.next_body())
    assert [_resource(request, i)["host.name"] for i in range(4)] == [f"gw-00000{i}" for i in range(4)]
    assert sender.points == 4 * len(_points(request, 0))
    counters = [point.as_double for i in range(4) for kind, point in _points(request, i) if kind == "sum"]
    assert math.isclose(sender.counter_total(), math.fsum(counters))


def test_the_naive_baseline_shares_series_across_cloned_gateways() -> None:
    fleet = Fleet(FleetSpec(gateways=3, change_fraction=1.0))
    naive = NaiveBridge(gateway_label=False)
    for _ in range(3):
        for sender in fleet.gateways:
            naive.ingest(ExportMetricsServiceRequest.FromString(sender.next_body()))
    counters = 0.0
    for family in text_string_to_metric_families(generate_latest(naive.registry).decode()):
        for sample in family.samples:
            assert "gateway" not in sample.labels
            if family.type == "counter" and sample.name.endswith("_total"):
                counters += sample.value
    assert math.isclose(counters, math.fsum(sender.counter_total() for sender in fleet.gateways))


def test_equal_specs_generate_equal_bytes_and_first_exports_differ_only_in_the_resource() -> None:
    spec = FleetSpec(gateways=3, change_fraction=0.5)
    first, second = Fleet(spec), Fleet(spec)
    bodies = [sender.next_body() for sender in first.gateways]
    assert bodies == [sender.next_body() for sender in second.gateways]
    name, host_id, pid = first.template.resource_offsets
    resource = {*range(name, name + 9), *range(host_id, host_id + 32), *range(pid, pid + 3)}
    differing = {index for index in range(len(bodies[0])) if len({body[index] for body in bodies}) > 1}
    assert differing
    assert differing <= resource
    for _ in range(3):
        assert [sender.next_body() for sender in first.gateways] == [sender.next_body() for sender in second.gateways]


def test_own_lanes_give_each_gateway_session_lanes_of_its_own_and_change_nothing_else() -> None:
    """``own_lanes``: each gateway's session lanes carry its own name (real gateways' sessions are their own), in
    bytes of the same length; every other byte is what the fleet sends without it."""
    plain, own = Fleet(FleetSpec(gateways=3)), Fleet(FleetSpec(gateways=3, own_lanes=True))
    lane_bytes = {offset + at for offset in own.template.lane_offsets for at in range(len("g000000"))}
    for index, (sender, own_sender) in enumerate(zip(plain.gateways, own.gateways, strict=True)):
        for _ in range(2):
            body, own_body = sender.next_body(), own_sender.next_body()
            assert len(body) == len(own_body)
            differing = {at for at, (a, b) in enumerate(zip(body, own_body, strict=True)) if a != b}
            assert differing and differing <= lane_bytes
        lanes = {
            value
            for kind, point in _points(ExportMetricsServiceRequest.FromString(own_body))
            for pair in point.attributes
            if pair.key == "openclaw.lane" and (value := pair.value.string_value).startswith("session:agent:main:g")
        }
        expected = ("a", "b", "err429", "err500", "tools")
        assert lanes == {f"session:agent:main:g{index:06d}-{suffix}" for suffix in expected}


def _run(exports_per_second: float, client_share: float = 0.3) -> dict[str, Any]:
    """A saturating run's result as the load client and the harness write it (the fields the table reads)."""
    latency = {"p50_ms": 1.0, "p90_ms": 2.0, "p99_ms": 3.0, "max_ms": 4.0, "mean_ms": 1.5, "samples": 100}
    return {
        "points_per_second": exports_per_second * 62,
        "requests_per_second": exports_per_second,
        "requests": 100,
        "concurrency": 4,
        "latency": latency,
        "server_cpu_share": 1.0,
        "client_cpu_share": client_share,
        "foreign_load": 0.0,
        "foreign_client_load": 0.0,
        "non_200": 0,
        "rejected_points": 0,
        "partial_responses": 0,
        "errors": {},
    }


def test_the_table_reads_the_fleet_against_the_aiohttp_floor() -> None:
    rss = {"gateways": 2000, "rounds": 3, "bytes_per_gateway": 4096.0, "rss_after_bytes": 2**27, "rejected_points": 0}
    profile = {
        "bridge": _run(3000.0),
        "naive": _run(1500.0),
        "bridge_rss": {**rss, "bad_answers": 0},
        "naive_rss": {**rss, "bad_answers": 0},
        "bridge_series": 812,
        "bridge_share_of_floor": 3000.0 / 12000.0,
    }
    fleet = {"gateways": 2000, "floor": _run(12000.0, client_share=0.95), "every point": profile}
    rows, goals = build_table({"fleet": fleet})
    floor_row = next(row for row in rows if row.figure.startswith("aiohttp floor"))
    assert floor_row.value == "12,000 exports/s"
    assert "8.00× naive (every point)" in floor_row.ratios
    assert "(10 %)" not in floor_row.ratios  # that profile did not run
    assert "⚠ the load client used 95 % of its core" in floor_row.ratios
    ratio_row = next(row for row in rows if row.figure == "bridge / naive, every point changed")
    assert ratio_row.value == "2.00×"
    assert "the bridge at 25 % of the aiohttp floor" in ratio_row.ratios
    bridge_row = next(row for row in rows if row.figure.startswith("bridge e2e"))
    assert "client CPU 30 %" in bridge_row.ratios
    assert "⚠" not in bridge_row.ratios
    assert {goal["goal"]: goal["status"] for goal in goals}["fleet ≥ 4× naive (every point)"] == "FAIL"


def test_the_table_sets_the_translation_against_what_the_goal_leaves_and_shows_a_read_per_export() -> None:
    rss = {"gateways": 2000, "rounds": 3, "bytes_per_gateway": 4096.0, "rss_after_bytes": 2**27, "rejected_points": 0}
    each = {**_run(1000.0), "server_cpu_share": 0.5, "scrape_interval": 2.0, "scrapes": {"scrapes": 9}}
    each |= {"rejected_points": 5}
    profile = {
        "bridge": _run(3000.0),
        "naive": _run(1500.0),
        "read_each_export": each,
        "in_process": {"apply_us": 120.0, "settle_us": 250.0, "exports": 8000},
        "bridge_rss": {**rss, "bad_answers": 0},
        "naive_rss": {**rss, "bad_answers": 0},
        "bridge_series": 812,
    }
    fleet = {"gateways": 2000, "floor": _run(12000.0), "every point": profile}
    rows, goals = build_table({"fleet": fleet})
    budget = next(row for row in rows if row.figure.startswith("translation in process, every point"))
    assert budget.value == "120 + 250 µs"
    # 4× a naive 1,500 exports/s: 167 µs an export; the floor's 12,000/s take 83 of them
    assert "allows 167 µs an export, the aiohttp floor takes 83: 83 µs for all the bridge's own work" in budget.ratios
    assert "(the translation alone takes 1.4× that)" in budget.ratios
    read_each = next(row for row in rows if row.figure == "bridge, every point changed, read every export interval")
    assert read_each.value == "2,000 exports per CPU-s"
    assert "paced at 1,000 exports/s, server CPU 50 %, a read every 2.00 s (9 reads)" in read_each.ratios
    assert "0.67× the saturated run read every 5 s; ack p99" in read_each.ratios
    rejections = next(row for row in rows if row.figure == "rejections, every point changed")
    assert rejections.value.startswith("5 points")  # the read-per-export run's count too
    assert {goal["goal"]: goal["status"] for goal in goals}["fleet: no rejections (every point)"] == "FAIL"


@pytest.mark.parametrize("fraction", [0.1, 1.0])
def test_the_in_process_measurement_counts_the_timed_exports_of_every_gateway(fraction: float) -> None:
    measured = measure_fleet_translate(FleetSpec(gateways=5, change_fraction=fraction), rounds=2)
    assert measured.exports == 10  # the warm-up rounds are not counted
    assert measured.apply_us > 0 and measured.settle_us > 0
    assert set(measured.as_dict()) == {"apply_us", "settle_us", "exports"}
