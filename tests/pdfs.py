"""Reading a PDF the way a person looks at it: its pages, its words, its pictures, the page rendered to pixels."""

from __future__ import annotations

from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image


@dataclass(frozen=True)
class Page:
    pages: int
    text: str  # the first page's words, whitespace folded to single spaces (wrapped lines joined)
    images: int  # picture objects on the first page (the photos)
    png: Image.Image  # the first page rendered at 72 dpi x scale


def read(data: bytes, scale: float = 1.0) -> Page:
    doc = pdfium.PdfDocument(data)
    try:
        page = doc[0]
        textpage = page.get_textpage()
        text = " ".join(textpage.get_text_bounded().split())
        images = sum(1 for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]))
        bitmap = page.render(scale=scale)
        png = bitmap.to_pil().convert("RGB")
        bitmap.close()
        textpage.close()
        page.close()
        return Page(len(doc), text, images, png)
    finally:
        doc.close()


def inked(image: Image.Image) -> float:
    """The share of pixels that are not (nearly) white: 0.0 for a blank page."""
    grey = image.convert("L")
    dark = sum(count for level, count in enumerate(grey.histogram()) if level < 245)
    return dark / (grey.width * grey.height)
