"""docs/mapping.md and otlp_bridge/translate/mapping.py state the same contract: families, types, sources, labels,
fallbacks and exactness. A change to one without the other fails here."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from otlp_bridge.translate.mapping import LOG_SPECS, METRIC_SPECS, SPAN_SPECS, SPANS_COMPLETE_SPECS, FamilySpec, Label
from tests.conftest import REPO

DOC = (REPO / "docs" / "mapping.md").read_text()
EVENT_SPECS = (*SPAN_SPECS, *SPANS_COMPLETE_SPECS)
ALL_SPECS = (*METRIC_SPECS, *EVENT_SPECS, *LOG_SPECS)


def _section(title: str, table: int = 0) -> list[list[str]]:
    """The cells of table number ``table`` under ``## title`` (header and separator left out)."""
    body = DOC.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    text = [block for block in body.split("\n\n") if block.startswith("| ")][table]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in text.splitlines()[2:]]


def _ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _sources(spec: FamilySpec) -> set[str]:
    """The names a family's ``from`` cell must give for one spec (OTLP metric, span, attribute or log event)."""
    if spec in METRIC_SPECS:
        return {spec.source if spec.source.startswith("gen_ai.") else "openclaw." + spec.source}
    return {name for name in (spec.source, spec.attribute) if name and name != "*"}


def _families() -> dict[str, list[FamilySpec]]:
    families: dict[str, list[FamilySpec]] = defaultdict(list)
    for spec in ALL_SPECS:
        families[spec.name].append(spec)
    return families


FAMILY_ROWS = {_ticked(row[0])[0]: row for row in _section("Families")}


def test_every_family_is_in_both() -> None:
    assert sorted(FAMILY_ROWS) == sorted(_families())


@pytest.mark.parametrize("family", sorted(_families()))
def test_a_family_row_says_what_mapping_py_does(family: str) -> None:
    specs = _families()[family]
    _, kind, source, labels, exactness = FAMILY_ROWS[family]
    assert kind == specs[0].kind.name.lower()
    assert {name for name in _ticked(source) if not name.startswith("--")} == set().union(*map(_sources, specs))
    names = {label.name + ("?" if label.optional else "") for spec in specs for label in spec.labels}
    assert set(labels.split(", ")) - {"–"} == names
    assert set(exactness.split(" / ")) == {spec.exactness for spec in specs}


def _label_rows() -> dict[tuple[str, tuple[str, ...]], list[str]]:
    rows = {}
    for row in _section("Labels"):
        label, attributes, invalid, absent, notes = row
        rows[(_ticked(label)[0], tuple(_ticked(attributes)))] = [invalid, absent, notes]
    return rows


def _attribute_labels() -> set[tuple[str, tuple[str, ...]]]:
    return {(label.name, label.source) for spec in ALL_SPECS for label in spec.labels if label.source}


def test_every_attribute_label_is_in_both() -> None:
    assert sorted(_label_rows()) == sorted(_attribute_labels())


LABELS = {repr(label): label for spec in ALL_SPECS for label in spec.labels}


@pytest.mark.parametrize(
    "label", [LABELS[key] for key in sorted(LABELS)], ids=lambda label: f"{label.name}-{label.source}"
)
def test_a_label_row_gives_its_fallbacks(label: Label) -> None:
    if label.const is not None:
        assert (label.name, label.const) in _constants()
        return
    invalid, absent, notes = _label_rows()[(label.name, label.source)]
    assert label.fallback in _ticked(invalid)
    if label.optional:
        assert absent == "left out"
    else:
        assert (label.absent or label.fallback) in _ticked(absent)
    if label.present is not None:
        assert label.present in _ticked(notes)
    for before, after in label.rename.items():
        assert f"`{before}` becomes `{after}`" in notes
    assert label.lane == ("lane normaliser" in notes)


def _constants() -> set[tuple[str, str]]:
    return {(_ticked(row[0])[0], value) for row in _section("Labels", 1) for value in _ticked(row[1])}


def test_every_constant_label_is_in_both() -> None:
    assert _constants() == {(label.name, label.const) for spec in ALL_SPECS for label in spec.labels if label.const}
