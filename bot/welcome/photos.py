"""People's photos for the kit: fetched from their Slack profile's image URL, checked and squared with Pillow.

Anything short of a real picture (a 404, a timeout, a refused connection, an HTML page, a huge file) is None,
and the kit draws the person's initials instead: a missing photo never costs the kit."""

from __future__ import annotations

import io
import logging
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from PIL import Image, UnidentifiedImageError

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5
MAX_BYTES = 5 * 1024 * 1024  # Slack's profile photos are far smaller; anything bigger isn't one
SIZE = 256  # pixels per side in the PDF: sharp at the printed size, small in the file
Image.MAX_IMAGE_PIXELS = 40_000_000  # a "photo" claiming more pixels than this is refused, not decoded


def fetch(url: str | None, *, timeout: float = TIMEOUT_SECONDS) -> bytes | None:
    """The photo at `url` as a SIZE x SIZE PNG (centre-cropped), or None when it can't be had."""
    if not url or not url.lower().startswith(("https://", "http://")):
        return None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only, checked above
            data = response.read(MAX_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        logger.info("No photo from %s (%s): initials instead", _short(url), type(exc).__name__)
        return None
    if len(data) > MAX_BYTES:
        logger.info("Photo at %s is over %s bytes: initials instead", _short(url), MAX_BYTES)
        return None
    return square_png(data)


def square_png(data: bytes) -> bytes | None:
    """Any image Pillow reads, centre-cropped to a square and scaled to SIZE; None when it isn't an image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            picture = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    side = min(picture.size)
    if side < 1:
        return None
    left, top = (picture.width - side) // 2, (picture.height - side) // 2
    picture = picture.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=True)
    return out.getvalue()


def fetch_all(urls: list[str | None], *, timeout: float = TIMEOUT_SECONDS) -> dict[str, bytes | None]:
    """Each distinct URL fetched once, side by side, so six slow photos cost one timeout, not six."""
    wanted = [u for u in dict.fromkeys(urls) if u]
    if not wanted:
        return {}
    with ThreadPoolExecutor(max_workers=min(len(wanted), 6), thread_name_prefix="photo") as pool:
        return dict(zip(wanted, pool.map(lambda u: fetch(u, timeout=timeout), wanted), strict=True))


def _short(url: str) -> str:
    """A photo URL for the log without its query string (Slack's CDN URLs may carry signed parameters)."""
    return url.split("?", 1)[0][:120]
