"""otlp-bridge: OpenClaw diagnostics-otel (OTLP/HTTP) in, the official openclaw_* Prometheus series out."""

__version__ = "0.1.0"
