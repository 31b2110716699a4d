"""The cap rule a user can reason about: a family holds at most ``--max-series-per-family`` series, which unless set
is ``--max-series``; the drop counter names the cap that refused a series."""

from __future__ import annotations

import aiohttp
import pytest

from otlp_bridge.config import build_parser, load_config
from tests.support import PROTOBUF, in_process_bridge, metrics_request, parse_exposition, sum_metric

SENT = 3000  # distinct label sets of one family, in one request
REASONS = ("series_cap", "family_cap", "stream_cap")


def _caps(*argv: str) -> tuple[int, int]:
    config = load_config(build_parser().parse_args(list(argv)), {})
    return config.max_series, config.max_series_per_family


@pytest.mark.parametrize(
    ("argv", "caps"),
    [
        ((), (2048, 2048)),
        (("--max-series", "100000"), (100000, 100000)),
        (("--max-series", "100000", "--max-series-per-family", "1024"), (100000, 1024)),
        (("--max-series-per-family", "10"), (2048, 10)),
    ],
)
def test_the_per_family_cap_follows_the_global_cap_unless_set(argv: tuple[str, ...], caps: tuple[int, int]) -> None:
    assert _caps(*argv) == caps


def test_help_states_the_rule() -> None:
    help_text = "".join(build_parser().format_help().split())  # argparse wraps lines anywhere, even inside options
    assert "--max-series-per-familyNseriescapperfamily(default:thesameas--max-series" in help_text


@pytest.mark.parametrize(
    ("argv", "kept", "reason"),
    [
        (("--max-series", "100000"), SENT, None),  # raising --max-series alone: the family grows past 1,024
        (("--max-series", "100000", "--max-series-per-family", "1024"), 1024, "family_cap"),
        (("--max-series", "1500"), 1500, "series_cap"),
        ((), 2048, "series_cap"),  # the defaults: 2048 like the official plugin, for one family as for all
    ],
)
async def test_one_family_keeps_what_the_caps_allow_and_the_drops_name_the_cap(
    argv: tuple[str, ...], kept: int, reason: str | None
) -> None:
    max_series, per_family = _caps(*argv)
    points = [({"openclaw.channel": "telegram", "openclaw.webhook": f"hook-{i:05}"}, 1.0) for i in range(SENT)]
    body = metrics_request(sum_metric("openclaw.webhook.received", points)).SerializeToString()
    async with (
        in_process_bridge(max_series=max_series, max_series_per_family=per_family) as running,
        aiohttp.ClientSession() as session,
    ):
        async with session.post(
            f"{running.otlp_url}/v1/metrics", data=body, headers={"Content-Type": PROTOBUF}
        ) as response:
            assert response.status == 200
        async with session.get(f"{running.metrics_url}/metrics") as response:
            samples = parse_exposition(await response.text())
    family = [s for s in samples if s.name == "openclaw_webhook_received_total"]
    assert len(family) == kept
    dropped = {s.labels["reason"]: s.value for s in samples if s.name == "otlp_bridge_series_dropped_total"}
    assert dropped == {r: (SENT - kept if r == reason else 0) for r in REASONS}
    assert [s.value for s in samples if s.name == "openclaw_prometheus_series_dropped_total"] == [SENT - kept]
