"""Translate: decoded OTLP metrics, spans and logs into ``openclaw_*`` series (pure, synchronous, time passed
in). Imports the foundation, the store and ``receive``; never ``expose`` or aiohttp."""
