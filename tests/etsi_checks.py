"""The TS 119 102-2 report checked the way a relying party reads it: parsed back through the standard's
bindings (xsdata into ``ts_11910202.ValidationReport``), never by looking for strings in the XML."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyhanko.generated.etsi import ts_11910202
from xsdata.formats.dataclass.parsers import XmlParser

from signing.etsi_report import etsi_report_xml
from signing.validation import TrustStore, ValidationReport

__all__ = ["assert_etsi_report_agrees", "assert_etsi_report_of", "indications", "parsed_etsi_report"]


def parsed_etsi_report(xml: bytes) -> ts_11910202.ValidationReport:
    return XmlParser().from_bytes(xml, ts_11910202.ValidationReport)


def indications(report: ValidationReport | dict[str, Any]) -> list[tuple[str, str | None]]:
    """(indication, sub-indication) of each signature of a report, or of its JSON."""
    if isinstance(report, ValidationReport):
        return [(v.indication, v.sub_indication) for v in report.signatures]
    return [(v["indication"], v["sub_indication"]) for v in report["signatures"]]


def assert_etsi_report_agrees(xml: bytes, verdicts: list[tuple[str, str | None]]) -> None:
    """Each signature's main indication and sub-indication in ``xml`` are ``verdicts`` (the JSON report's),
    in the same order, and every validation object it refers to is in its list of validation objects."""
    parsed = parsed_etsi_report(xml)
    elements = parsed.signature_validation_report
    assert len(elements) == len(verdicts), xml.decode()
    assert parsed.signature_validation_objects is not None
    listed = {o.id for o in parsed.signature_validation_objects.validation_object}
    for element, (indication, sub) in zip(elements, verdicts, strict=True):
        status = element.signature_validation_status
        assert status is not None
        main = (status.main_indication or "").removeprefix("urn:etsi:019102:mainindication:")
        assert main == indication.lower().replace("_", "-"), (main, indication)
        subs = [s.removeprefix("urn:etsi:019102:subindication:") for s in status.sub_indication]
        assert subs == ([sub] if sub else []), (subs, sub)
    assert set(_references(parsed.signature_validation_report)) <= listed, xml.decode()


def _references(node: object) -> Iterator[str]:
    """Every validation object reference anywhere below ``node`` (signer, chain, DSS, time-stamps)."""
    if isinstance(node, ts_11910202.VOReferenceType):
        yield from node.voreference
    elif isinstance(node, tuple | list):
        for item in node:
            yield from _references(item)
    elif dataclasses.is_dataclass(node):
        for field in dataclasses.fields(node):
            yield from _references(getattr(node, field.name))


def assert_etsi_report_of(source: Path, report: ValidationReport, trust: TrustStore) -> None:
    assert_etsi_report_agrees(etsi_report_xml(source, report, trust), indications(report))
