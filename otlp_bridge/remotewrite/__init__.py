"""Prometheus remote write: the bridge pushes its scrape page's series to Mimir, Thanos, VictoriaMetrics or
Prometheus.

``wire`` encodes a prompb ``WriteRequest``; ``collect`` turns the store and the self-metrics into encoded samples;
``queue`` is the delivery policy (bounded queue, batches, backoff, classification), pure with time passed in (a
target and its queue settings are configuration: ``config.Target``, ``config.QueueConfig``);
``metrics`` counts per target; ``sender`` is the aiohttp side, one task per target.
"""
