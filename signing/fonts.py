"""The appearance font: Liberation Serif, prepared once per machine and once per process.

Two things about pyHanko's OpenType support shape this module:

* It writes a CID font's glyph widths (/W) in the font's own units, which PDF reads as thousandths of
  an em: right for fonts drawn on a 1000-unit em, twice too wide for Liberation Serif (2048 units), whose
  letters then sit far apart. So the font is rescaled to a 1000-unit em with fontTools.
* It subsets the font anew for every signature, which costs more than the signature itself. So a subset
  covering Latin and every Vietnamese letter is made once (and cached on disk), and signatures whose
  text it covers embed that subset as it is; any other text falls back to pyHanko's own subsetting.
"""

from __future__ import annotations

import os
import tempfile
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.ttLib.scaleUpem import scale_upem
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import CIDFontType2, GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.writer import BasePdfFileWriter

__all__ = ["SOURCE_FONT", "appearance_font", "font_engine_factory", "text_width"]

SOURCE_FONT = Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf")
_PDF_EM = 1000
# Printable ASCII, Latin-1, the Vietnamese letters with their tone marks (Latin Extended-A/B and
# Latin Extended Additional), and the punctuation of official documents.
_VIETNAMESE = frozenset(
    [chr(c) for c in range(0x20, 0x7F)]
    + [chr(c) for c in range(0xA0, 0x100)]
    + list("ĂăĐđĨĩŨũƠơƯư")
    + [chr(c) for c in range(0x1EA0, 0x1EFA)]
    + ["\u2013", "\u2014", "\u2018", "\u2019", "\u201c", "\u201d", "\u2026", "\u2022", "\u2116", "\n"]
)


def appearance_font(cache_folder: Path | None = None) -> Path:
    """Liberation Serif on a 1000-unit em, made from Debian's fonts-liberation2 on first use."""
    return _prepared("full", lambda font: None, cache_folder)


def font_engine_factory(text: str, size: int) -> FontEngineFactory:
    """How to set ``text``: the prepared Vietnamese subset when it has every character, else pyHanko's
    own subsetting of the whole font."""
    if set(text) <= _VIETNAMESE:
        return _PresubsetFactory(_vietnamese_program(), size)
    return GlyphAccumulatorFactory(str(appearance_font()), font_size=size)


def text_width(text: str, size: float) -> float:
    """How wide ``text`` is set at ``size`` points, as pyHanko sets it: the sum of the glyphs' advances
    (the appearance font carries no kerning), so that a box can be made to the text's measure."""
    advances, widths = _advances()
    return sum(widths.get(ord(character), advances) for character in text) * size / _PDF_EM


@cache
def _advances() -> tuple[int, dict[int, int]]:
    """The missing glyph's advance, and every character's advance, on the 1000-unit em."""
    font = TTFont(appearance_font())
    metrics = font["hmtx"].metrics
    return metrics[".notdef"][0], {code: metrics[name][0] for code, name in font.getBestCmap().items()}


@cache
def _vietnamese_program() -> bytes:
    return _prepared("vi", _keep_vietnamese, None).read_bytes()


def _keep_vietnamese(font: TTFont) -> None:
    options = subset.Options(layout_closure=False, notdef_outline=True)
    options.drop_tables += ["GPOS", "GDEF", "GSUB"]  # as pyHanko does: it shapes, the PDF carries glyphs
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(unicodes=[ord(character) for character in _VIETNAMESE if character != "\n"])
    subsetter.subset(font)


def _prepared(variant: str, prepare: Any, cache_folder: Path | None) -> Path:
    if not SOURCE_FONT.is_file():
        raise RuntimeError(f"{SOURCE_FONT} is missing: install Debian's fonts-liberation2")
    folder = cache_folder or Path(tempfile.gettempdir()) / "govsign-fonts"
    source = SOURCE_FONT.stat()
    target = folder / f"{SOURCE_FONT.stem}-{variant}-{_PDF_EM}em-{source.st_size}-{int(source.st_mtime)}.ttf"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    font = TTFont(SOURCE_FONT)
    scale_upem(font, _PDF_EM)
    prepare(font)
    descriptor, temporary = tempfile.mkstemp(dir=folder, suffix=".partial")
    with os.fdopen(descriptor, "wb") as stream:
        font.save(stream)
    os.replace(temporary, target)  # processes may race here; each writes the same bytes
    return target


class _ProgramCIDFont(CIDFontType2):
    """A CID font whose program is embedded from bytes at hand rather than re-compiled by fontTools."""

    def __init__(self, tt: TTFont, base_ps_name: str, subset_prefix: str, program: bytes) -> None:
        super().__init__(tt, base_ps_name, subset_prefix)
        self._program = program

    def set_font_file(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        stream = generic.StreamObject(stream_data=self._program)
        stream.compress()  # type: ignore[no-untyped-call]
        reference = writer.add_object(stream)
        self._font_descriptor[generic.pdf_name("/FontFile2")] = reference
        return reference


class _PresubsetAccumulator(GlyphAccumulator):
    """pyHanko's glyph accumulator over a font that already is the subset: it embeds it as it is."""

    def __init__(self, writer: BasePdfFileWriter, program: bytes, size: int, obj_stream: Any) -> None:
        super().__init__(writer=writer, font_handle=BytesIO(program), font_size=size, obj_stream=obj_stream)
        base_name = self.cidfont_obj.name.split("+", 1)[-1]
        self.cidfont_obj = _ProgramCIDFont(self.tt, base_name, self.subset_prefix, program)

    def _extract_subset(self, options: Any = None) -> None:
        """Nothing to cut: the font was subset once for the whole process."""


class _PresubsetFactory(FontEngineFactory):
    def __init__(self, program: bytes, size: int) -> None:
        self._program = program
        self._size = size

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: Any = None) -> _PresubsetAccumulator:
        if obj_stream is None and writer.stream_xrefs:
            obj_stream = writer.prepare_object_stream()  # type: ignore[no-untyped-call]
        return _PresubsetAccumulator(writer, self._program, self._size, obj_stream)
