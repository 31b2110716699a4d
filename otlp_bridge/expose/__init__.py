"""Expose: the series store as Prometheus text/OpenMetrics, JSON views and the bridge's self-metrics."""
