"""The validation report as a PDF a person can file or print: the page's cards, on A4, in one language.

Text is set in the appearance font (Liberation Serif with every Vietnamese letter, embedded once per
report) through pyHanko's font engine, lines wrapped by measured width; each signature gets a coloured bar
(green, amber, red) like its card on the page. No new dependency: pyHanko already writes PDFs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO

from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngine
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from govsign.web.presentation import holder, people_time
from govsign.web.terms import term
from govsign.web.texts import TEXTS
from signing.fonts import font_engine_factory
from signing.validation import Indication, SignatureVerdict, ValidationReport
from signing.visual_diff import PageDifference

__all__ = ["report_pdf"]

_PAGE_WIDTH, _PAGE_HEIGHT = 595.28, 841.89
_MARGIN = 56.0
_TEXT_WIDTH = _PAGE_WIDTH - 2 * _MARGIN
_BODY = 10.0
_COLOURS = {
    Indication.TOTAL_PASSED: (0.118, 0.490, 0.196),
    Indication.INDETERMINATE: (0.698, 0.416, 0.0),
    Indication.TOTAL_FAILED: (0.718, 0.110, 0.110),
}
_BLACK = (0.106, 0.106, 0.106)
# a bullet, a multiplication sign, an en dash: in the embedded subset, unlike check marks
_MARKS = {True: ("\u2022", "passed"), False: ("\u00d7", "failed"), None: ("\u2013", "not_checked")}


@dataclass(frozen=True)
class _Picture:
    """A changed page as signed and as now (PNG), drawn across the text width."""

    png: bytes
    width: int  # pixels
    height: int

    @property
    def points_high(self) -> float:
        return _TEXT_WIDTH * self.height / self.width


@dataclass(frozen=True)
class _Line:
    text: str
    size: float = _BODY
    colour: tuple[float, float, float] = _BLACK
    indent: float = 0.0
    bar: tuple[float, float, float] | None = None  # a coloured bar in the margin beside the line
    space_before: float = 0.0
    picture: _Picture | None = None  # drawn instead of the text


def report_pdf(
    report: ValidationReport, language: str, drawings: Mapping[str, Sequence[PageDifference]] | None = None
) -> bytes:
    """The report in ``language`` ("vi" or "en") as the bytes of a PDF, with the ``drawings`` of the pages
    changed after each signature (by field name) under its card."""
    lines = _lines(report, language, drawings or {})
    writer = PdfFileWriter()  # type: ignore[no-untyped-call]
    writer.set_info(
        generic.DictionaryObject({generic.pdf_name("/Title"): generic.TextStringObject(lines[0].text)})  # type: ignore[no-untyped-call]
    )
    engine = font_engine_factory("".join(line.text for line in lines), int(_BODY)).create_font_engine(writer)
    images = {
        line.picture: PdfImage(Image.open(BytesIO(line.picture.png)), writer=writer).image_ref
        for line in lines
        if line.picture is not None
    }
    for page in _paginate(_wrapped(lines, engine)):
        operations, shown = _content(page, engine)
        content = generic.StreamObject(stream_data=operations)
        content.compress()  # type: ignore[no-untyped-call]
        xobjects = {generic.pdf_name(f"/Im{n}"): images[picture] for n, picture in enumerate(shown)}
        resources = generic.DictionaryObject(  # type: ignore[no-untyped-call]
            {
                generic.pdf_name("/Font"): generic.DictionaryObject(  # type: ignore[no-untyped-call]
                    {generic.pdf_name("/F1"): engine.as_resource()}
                ),
                generic.pdf_name("/XObject"): generic.DictionaryObject(xobjects),  # type: ignore[no-untyped-call]
            }
        )
        writer.insert_page(  # type: ignore[no-untyped-call]
            PageObject(writer.add_object(content), (0, 0, _PAGE_WIDTH, _PAGE_HEIGHT), resources)  # type: ignore[no-untyped-call]
        )
    output = BytesIO()
    writer.write(output)  # type: ignore[no-untyped-call]
    return output.getvalue()


def _lines(
    report: ValidationReport, language: str, drawings: Mapping[str, Sequence[PageDifference]]
) -> list[_Line]:
    t = TEXTS[language]
    english = language == "en"
    lines = [
        _Line(t["report"], size=16),
        _Line(f"{t['document']}: {report.document_sha256}", space_before=8),
        _Line(f"{t['validated_at']}: {people_time(report.validated_at, language)} ({report.schema})"),
    ]
    if not report.signatures:
        lines.append(_Line(t["none"], space_before=12))
    for number, verdict in enumerate(report.signatures, start=1):
        lines += _card(number, verdict, language)
        lines += _drawn(drawings.get(verdict.field_name, ()), TEXTS[language], _COLOURS[verdict.indication])
    for refusal in report.fetches_refused:
        url = refusal.partition(": ")[0]
        lines.append(_Line(f"{t['refused']} {refusal if english else url}", space_before=6))
    lines.append(_Line(t["footer"], size=8, space_before=16))
    return lines


def _card(number: int, verdict: SignatureVerdict, language: str) -> list[_Line]:
    t, english = TEXTS[language], language == "en"
    colour = _COLOURS[verdict.indication]
    kind = t["signature"] if verdict.kind == "signature" else t["timestamp"]
    codes = f"{verdict.indication}{' / ' + verdict.sub_indication if verdict.sub_indication else ''}"
    words = term(language, "indication", verdict.indication) + (
        f": {term(language, 'sub_indication', verdict.sub_indication)}" if verdict.sub_indication else ""
    )
    outcome = f"{words} ({codes})"
    level = f" · PAdES {verdict.level}" if verdict.level else ""
    lines = [
        _Line(f"{kind} {number} — {verdict.field_name}", size=12, bar=colour, space_before=14),
        _Line(verdict.summary_en if english else verdict.summary_vi, colour=colour, bar=colour),
        _Line(f"{t['verdict']}: {outcome}{level}", bar=colour),
    ]
    if verdict.signer is not None:
        who = verdict.signer.common_name + (
            f" — {verdict.signer.organisation}" if verdict.signer.organisation else ""
        )
        lines.append(_Line(f"{t['signer']}: {who}", bar=colour))
        if verdict.signer.uid:
            lines.append(_Line(f"{t['uid']}: {', '.join(verdict.signer.uid)}", bar=colour))
        lines.append(_Line(f"{t['issuer']}: {holder(verdict.signer.issuer)}", bar=colour))
    when = people_time(verdict.signing_time, language) or t["unknown"]
    note = verdict.signing_time_note_en if english else verdict.signing_time_note_vi
    if verdict.signing_time and (note or not verdict.signing_time_proven):
        when += f" — {note or t['time_claimed']}"
    lines.append(_Line(f"{t['time']}: {when}", bar=colour))
    lines += _changes(verdict, t, english, colour)
    if verdict.trust_anchor:
        lines.append(_Line(f"{t['anchor']}: {holder(verdict.trust_anchor)}", bar=colour))
    if verdict.checks:
        lines.append(_Line(f"{t['checks']}:", bar=colour))
    for check in verdict.checks:
        mark, state = _MARKS[check.passed]
        state = t[state]
        name = check.name if english else check.name_vi
        detail = f" ({check.detail})" if check.detail else ""
        lines.append(_Line(f"{mark} {name}: {state}{detail}", indent=12, bar=colour))
    return lines


def _changes(
    verdict: SignatureVerdict, t: dict[str, str], english: bool, colour: tuple[float, float, float]
) -> list[_Line]:
    """What changed after the signature, a line each with whether it was allowed (the summary when none)."""
    if not verdict.changes:
        summary = verdict.modifications if english else verdict.modifications_vi
        return [_Line(f"{t['changes']}: {summary}", bar=colour)] if summary else []
    lines = [_Line(f"{t['changes']}:", bar=colour)]
    for change in verdict.changes:
        sentence = change.sentence_en if english else change.sentence_vi
        verdict_word = t["change_allowed"] if change.allowed else t["change_forbidden"]
        tint = _BLACK if change.allowed else _COLOURS[Indication.TOTAL_FAILED]
        lines.append(_Line(f"\u2022 {sentence}: {verdict_word}", colour=tint, indent=12, bar=colour))
    return lines


def _drawn(
    drawn: Sequence[PageDifference], t: dict[str, str], colour: tuple[float, float, float]
) -> list[_Line]:
    """Each changed page: its caption, then the page as signed beside the page now, changes boxed."""
    lines: list[_Line] = []
    for difference in drawn:
        png = difference.side_by_side_png()
        with Image.open(BytesIO(png)) as image:
            picture = _Picture(png, image.width, image.height)
        caption = t["difference"].format(page=difference.page, regions=len(difference.boxes))
        lines += [_Line(caption, bar=colour, space_before=6), _Line("", bar=colour, picture=picture)]
    return lines


def _width(text: str, size: float, engine: FontEngine) -> float:
    return float(engine.shape(text).x_advance) * size


def _wrapped(lines: list[_Line], engine: FontEngine) -> list[_Line]:
    """Each line broken at spaces (or anywhere, for long hashes) to fit the text width."""
    result: list[_Line] = []
    for line in lines:
        if line.picture is not None:
            result.append(line)
            continue
        room = _TEXT_WIDTH - line.indent
        words, current = line.text.split(" "), ""
        first = True
        for word in words:
            candidate = f"{current} {word}" if current else word
            if current and _width(candidate, line.size, engine) > room:
                result.append(_continued(line, current, first))
                first, current = False, word
            else:
                current = candidate
            while _width(current, line.size, engine) > room:  # one word wider than the line
                cut = len(current) - 1
                while cut > 1 and _width(current[:cut], line.size, engine) > room:
                    cut -= 1
                result.append(_continued(line, current[:cut], first))
                first, current = False, current[cut:]
        result.append(_continued(line, current, first))
    return result


def _continued(line: _Line, text: str, first: bool) -> _Line:
    return _Line(text, line.size, line.colour, line.indent, line.bar, line.space_before if first else 0.0)


def _height(line: _Line) -> float:
    if line.picture is not None:
        return line.space_before + line.picture.points_high + 4
    return line.space_before + line.size * 1.35


def _paginate(lines: list[_Line]) -> list[list[_Line]]:
    pages: list[list[_Line]] = [[]]
    used = 0.0
    for line in lines:
        if used + _height(line) > _PAGE_HEIGHT - 2 * _MARGIN and pages[-1]:
            pages.append([])
            used = 0.0
        pages[-1].append(line)
        used += _height(line)
    return pages


def _content(page: list[_Line], engine: FontEngine) -> tuple[bytes, list[_Picture]]:
    """The page's drawing operations, and the pictures it shows (as /Im0, /Im1, ... in that order)."""
    operations: list[bytes] = []
    shown: list[_Picture] = []
    y = _PAGE_HEIGHT - _MARGIN
    for line in page:
        y -= _height(line)
        if line.bar is not None:
            bar = (*line.bar, _MARGIN - 12, y - 3, _height(line))
            operations.append(b"%.3f %.3f %.3f rg %.2f %.2f 3 %.2f re f" % bar)
        if line.picture is not None:
            placed = (_TEXT_WIDTH, line.picture.points_high, _MARGIN, y, len(shown))
            operations.append(b"q %.2f 0 0 %.2f %.2f %.2f cm /Im%d Do Q" % placed)
            frame = (_MARGIN, y, _TEXT_WIDTH, line.picture.points_high)  # white paper on white paper
            operations.append(b"q 0.5 w 0.55 0.56 0.58 RG %.2f %.2f %.2f %.2f re S Q" % frame)
            shown.append(line.picture)
            continue
        text = engine.shape(line.text).graphics_ops
        operations.append(
            b"BT %.3f %.3f %.3f rg /F1 %.1f Tf %.2f %.2f Td %s ET"
            % (*line.colour, line.size, _MARGIN + line.indent, y, text)
        )
    return b"\n".join(operations), shown
