"""The parts of ``python -m bench``, one module each; ``RUNNERS`` maps a part's name to the function that runs it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.harness import Context
from bench.parts.fleet import part_fleet
from bench.parts.floors import part_parse, part_translate
from bench.parts.ingest import part_idle, part_ingest, part_naive, part_rotel
from bench.parts.memory import part_memory
from bench.parts.profile import part_profile
from bench.parts.remotewrite import part_remotewrite
from bench.parts.render import part_render
from bench.parts.scrape import part_scrape

RUNNERS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "parse": part_parse,
    "translate": part_translate,
    "ingest": part_ingest,
    "idle": part_idle,
    "naive": part_naive,
    "rotel": part_rotel,
    "memory": part_memory,
    "scrape": part_scrape,
    "render": part_render,
    "remotewrite": part_remotewrite,
    "profile": part_profile,
    "fleet": part_fleet,
}
PARTS = tuple(RUNNERS)
QUICK_PARTS = tuple(part for part in PARTS if part != "profile")
# measured inside this process, pinned to the server core
IN_PROCESS = frozenset({"parse", "translate", "render", "remotewrite"})
