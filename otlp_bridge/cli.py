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
from otlp_bridge.translate.mapping import label_names


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        config = load_config(args, os.environ)
        skipped = check_files(config, missing_ok=args.check_config)
        from otlp_bridge.alerts.message import check_template  # noqa: PLC0415 - keep --version free of Jinja2

        check_template(config)
        if config.source_label in label_names():
            msg = f"--source-label {config.source_label!r} collides with an openclaw_* label; pick another name"
            raise ConfigError(msg)
        if args.check_config:
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
