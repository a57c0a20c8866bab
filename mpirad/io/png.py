"""PNG (and other 2D raster) images, with errors that name the file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


class ImageReadError(ValueError):
    """An image file that cannot be decoded; the message names the file."""


def decode_image(
    data: bytes, *, source: str | Path = "<bytes>", grayscale: bool = True
) -> np.ndarray:
    """Decode image bytes (PNG, JPEG, ...) to an array.

    Args:
        data: the encoded file contents.
        source: what to name in error messages.
        grayscale: convert to one channel (``L``, 8-bit; 16-bit images keep their range
            as ``I;16`` -> uint16). When False, RGB(A) images come back as (H, W, C).

    Returns:
        ``(H, W)`` array (uint8 or uint16) when ``grayscale``, else ``(H, W)`` or ``(H, W, C)``.

    Raises:
        ImageReadError: the bytes are not a complete, decodable image.
    """
    try:
        # verify() checks every chunk's CRC; load() alone skips the CRC of PNG pixel data
        # (IDAT), so a flipped byte there could decode silently to wrong pixels.
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # forces a full decode: truncated files fail here
            if grayscale:
                if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                    array = np.asarray(
                        img, dtype=np.uint16 if img.mode.startswith("I;16") else np.int32
                    )
                elif img.mode in ("L", "P", "RGB", "RGBA", "LA", "1", "CMYK", "YCbCr"):
                    array = np.asarray(img.convert("L"))
                else:
                    array = np.asarray(img.convert("L"))
            else:
                array = np.asarray(img)
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,  # a (corrupt) header claiming a huge size
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        raise ImageReadError(f"{source}: not a readable image ({exc})") from exc
    return np.array(array)


def read_png(path: str | Path, *, grayscale: bool = True) -> np.ndarray:
    """Read a PNG (or any Pillow-readable image) file.

    Args:
        path: the image file.
        grayscale: see :func:`decode_image`.

    Returns:
        The pixels, ``(H, W)`` (rows, columns) for grayscale.

    Raises:
        ImageReadError: missing, empty, truncated or corrupt file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if not data:
        raise ImageReadError(f"{path}: empty file")
    return decode_image(data, source=path, grayscale=grayscale)


def write_png(path: str | Path, array: np.ndarray) -> Path:
    """Write a 2D uint8/uint16 (or (H, W, 3|4) uint8) array as PNG, atomically.

    The output carries no timestamp or text chunks, so the same pixels give the same bytes.
    """
    from mpirad.io.atomic import atomic_write

    path = Path(path)
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{path}: write_png needs uint8 or uint16 pixels, got {array.dtype}")
    img = Image.fromarray(array)
    with atomic_write(path, "wb") as handle:
        img.save(handle, format="PNG", optimize=False, compress_level=6)
    return path
