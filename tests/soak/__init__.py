"""A bounded soak of a real bridge process: ``python -m tests.soak.soak --seconds N``."""
