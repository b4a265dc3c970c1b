"""Small PDFs made on the spot for signing tests (the varied corpus lives in tests/pdf_corpus.py)."""

from __future__ import annotations

from pathlib import Path

import pikepdf


def one_page_pdf(path: Path, text: str = "Phieu ly lich tu phap") -> Path:
    """An A4 page with one line of Helvetica text."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    content = pdf.make_stream(f"BT /F1 18 Tf 72 760 Td ({text}) Tj ET".encode("latin-1"))
    pdf.pages.append(
        pikepdf.Page(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Page,
                MediaBox=[0, 0, 595, 842],
                Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
                Contents=content,
            )
        )
    )
    pdf.save(path)
    return path


def signature_png(path: Path) -> Path:
    """A blue handwritten-looking stroke on a transparent background, as officials' scans are."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (600, 240), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    points = [(40 + x * 5, 120 + int(60 * ((-1) ** (x // 9)) * (x % 9) / 9)) for x in range(104)]
    draw.line(points, fill=(20, 40, 170, 255), width=7, joint="curve")
    image.save(path, dpi=(300, 300))
    return path


def seal_png(path: Path, diameter_mm: float = 36.0, dpi: int = 300) -> Path:
    """A red round seal, transparent outside the ring, saved with its resolution (so its real size is known)."""
    from PIL import Image, ImageDraw

    size = round(diameter_mm / 25.4 * dpi)
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    red = (200, 16, 24, 255)
    draw.ellipse((4, 4, size - 4, size - 4), outline=red, width=size // 30)
    draw.ellipse((size // 5, size // 5, size - size // 5, size - size // 5), outline=red, width=size // 60)
    draw.regular_polygon((size // 2, size // 2, size // 8), 5, fill=red)
    image.save(path, dpi=(dpi, dpi))
    return path
