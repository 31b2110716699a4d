"""The alert relay: Alertmanager's webhook (v4) in, a message a person reads out through OpenClaw's hook API.

``payload`` parses and validates the webhook body, ``message`` renders the text, ``hook`` talks to OpenClaw,
``relay`` holds the delivery semantics (deduplication, retry classes), ``metrics`` its self-metrics and ``handler``
is the aiohttp endpoint ``POST /alertmanager``. Only ``hook``, ``relay`` and ``handler`` know aiohttp.
"""
