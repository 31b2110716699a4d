"""``otlp-bridge``: parse options, configure logging, serve until SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence

from otlp_bridge.config import build_parser, check_files, load_config
from otlp_bridge.errors import ConfigError
from otlp_bridge.log import configure_logging


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        config = load_config(args, os.environ)
        skipped = check_files(config, missing_ok=args.check_config)
        from otlp_bridge.alerts.message import check_template  # noqa: PLC0415 - keep --version free of Jinja2

        check_template(config)
        if args.check_config:
            from otlp_bridge.store import Store  # noqa: PLC0415
            from otlp_bridge.translate.signals import SignalTranslators  # noqa: PLC0415 - also validates the label options

            SignalTranslators(Store(1, 1, 1.0), config)
            for line in skipped:
                print(f"otlp-bridge: check-config: {line}", file=sys.stderr)
            print(json.dumps(config.describe(), indent=2))
            return 0
        configure_logging(config.log_format, config.log_level)
        from otlp_bridge.server import serve  # noqa: PLC0415 - keep --version/--check-config free of aiohttp

        asyncio.run(serve(config))
    except ConfigError as error:
        print(f"otlp-bridge: config error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. the port is taken
        print(f"otlp-bridge: cannot start: {error}", file=sys.stderr)
        return 1
    return 0
