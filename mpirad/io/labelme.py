"""Labelme annotation files (JSON, labelme 3.x to 5.x).

Labelme (https://github.com/wkentaro/labelme) writes one JSON file per image with the
drawn ``shapes``. Study A's ischemic areas are polygons. :meth:`LabelmeAnnotation.mask`
rasterises shapes with the same pixel semantics as labelme's own ``shape_to_mask``:
Pillow's ``ImageDraw`` with ``outline=1, fill=1`` (so boundary pixels are inside):

- ``polygon``: ``ImageDraw.polygon(points)``; at least 3 points.
- ``rectangle``: two corner points, ``ImageDraw.rectangle``.
- ``circle``: centre and a point on the circle; ``ImageDraw.ellipse`` of the bounding
  square of radius ``|p1 - p0|``.

These are the shapes with an area (:data:`DRAWABLE_SHAPES`); they are validated on reading
as labelme's ``shape_to_mask`` asserts (a polygon needs at least 3 points, a rectangle or
circle exactly 2) and must lie within the image. Shapes of other types (``line``,
``linestrip``, ``point``, ``points``, ``mask`` or any other) are read and kept but never
drawn: they outline no area. :func:`tally_shapes` counts what a mask of given labels leaves
out (other labels, shapes without area) so callers can report it. Points are
``(x, y)`` = (column, row) in pixels.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

import numpy as np
from PIL import Image, ImageDraw

from mpirad.io.png import ImageReadError, decode_image, read_png

#: Shape types with an area, drawn into masks (labelme's ``shape_to_mask`` semantics).
DRAWABLE_SHAPES = ("polygon", "rectangle", "circle")
#: Former name of :data:`DRAWABLE_SHAPES`.
SUPPORTED_SHAPES = DRAWABLE_SHAPES
#: Largest ``imageHeight * imageWidth`` accepted: Pillow's decompression-bomb limit
#: (``2 * Image.MAX_IMAGE_PIXELS``), so a corrupt size cannot exhaust memory in ``mask``.
MAX_IMAGE_PIXELS = 2 * 89_478_485


class LabelmeError(ValueError):
    """A Labelme file that cannot be used as asked; the message names the file and shape."""


@dataclass(frozen=True)
class Shape:
    """One drawn shape.

    Attributes:
        label: the class name the reader gave it (e.g. ``"ischemia"``).
        shape_type: ``polygon``, ``rectangle``, ``circle`` (or another labelme type).
        points: ``(N, 2)`` float array of ``(x, y)`` pixel coordinates.
        index: position in the file's ``shapes`` list (for messages).
    """

    label: str
    shape_type: str
    points: np.ndarray
    index: int = 0


@dataclass
class LabelmeAnnotation:
    """A Labelme file's contents.

    Attributes:
        path: the JSON file.
        version: labelme version string from the file (``""`` when absent).
        image_shape: ``(height, width)`` in pixels.
        shapes: the shapes, in file order.
        image_path: the referenced image file (resolved next to the JSON), or None.
        flags: image-level flags.
    """

    path: Path
    version: str
    image_shape: tuple[int, int]
    shapes: list[Shape]
    image_path: Path | None = None
    flags: dict = field(default_factory=dict)
    _image_data: bytes | None = field(default=None, repr=False)

    @property
    def labels(self) -> list[str]:
        """Distinct shape labels, in order of first appearance."""
        return list(dict.fromkeys(s.label for s in self.shapes))

    @property
    def image(self) -> np.ndarray:
        """The annotated image as a grayscale ``(H, W)`` array.

        Decoded from the embedded base64 ``imageData`` when present, else read from
        ``imagePath`` next to the JSON file.
        """
        if self._image_data is not None:
            img = decode_image(self._image_data, source=f"{self.path} (imageData)")
        elif self.image_path is not None:
            if not self.image_path.exists():
                raise LabelmeError(
                    f"{self.path}: imagePath {self.image_path.name!r} not found next to the JSON"
                )
            img = read_png(self.image_path)
        else:
            raise LabelmeError(f"{self.path}: neither imageData nor imagePath is set")
        if img.shape[:2] != self.image_shape:
            raise LabelmeError(
                f"{self.path}: image is {img.shape[:2]} but the JSON says {self.image_shape}"
            )
        return img

    def mask(self, labels: str | list[str] | tuple[str, ...] | None = None) -> np.ndarray:
        """Rasterise shapes to a boolean ``(H, W)`` mask (union of the selected shapes).

        Only shapes with an area (:data:`DRAWABLE_SHAPES`) are drawn; lines and points
        are never drawn (see :func:`tally_shapes` to count them).

        Args:
            labels: a label or labels to include; None includes every shape.

        Returns:
            Boolean array of shape ``image_shape``.

        Raises:
            LabelmeError: a selected shape has too few points, or a requested label does
                not occur in the file.
        """
        if isinstance(labels, str):
            labels = [labels]
        if labels is not None:
            unknown = sorted(set(labels) - set(self.labels))
            if unknown and self.shapes:
                raise LabelmeError(
                    f"{self.path}: no shape labelled {unknown} (labels in file: {self.labels})"
                )
        height, width = self.image_shape
        canvas = Image.fromarray(np.zeros((height, width), dtype=np.uint8))
        draw = ImageDraw.Draw(canvas)
        for shape in self.shapes:
            if labels is not None and shape.label not in labels:
                continue
            if shape.shape_type not in DRAWABLE_SHAPES:
                continue  # no area: counted by tally_shapes, never drawn
            _draw_shape(draw, shape, self.path)
        return np.asarray(canvas, dtype=bool).copy()


def _shape_name(shape: Shape) -> str:
    return f"shape #{shape.index} ({shape.shape_type!r}, label {shape.label!r})"


def _draw_shape(draw: ImageDraw.ImageDraw, shape: Shape, path: Path) -> None:
    xy = [(float(x), float(y)) for x, y in shape.points]
    if shape.shape_type == "polygon":
        if len(xy) < 3:
            raise LabelmeError(
                f"{path}: {_shape_name(shape)} has {len(xy)} points; a polygon needs at least 3"
            )
        draw.polygon(xy, outline=1, fill=1)
    elif shape.shape_type == "rectangle":
        if len(xy) != 2:
            raise LabelmeError(
                f"{path}: {_shape_name(shape)} has {len(xy)} points; a rectangle needs 2 corners"
            )
        (x0, y0), (x1, y1) = xy
        draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], outline=1, fill=1)
    elif shape.shape_type == "circle":
        if len(xy) != 2:
            raise LabelmeError(
                f"{path}: {_shape_name(shape)} has {len(xy)} points; a circle needs centre and rim"
            )
        (cx, cy), (px, py) = xy
        radius = math.hypot(cx - px, cy - py)
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], outline=1, fill=1)
    else:
        raise LabelmeError(
            f"{path}: {_shape_name(shape)} has no area and cannot be drawn "
            f"(drawable: {', '.join(DRAWABLE_SHAPES)})"
        )


@dataclass
class ShapeTally:
    """What masks of given labels drew and left out, over one or more Labelme files.

    Attributes:
        drawn: shapes drawn (selected label, a type with an area).
        other_labels: label -> number of shapes with a label not selected (not drawn).
        no_area: shape type -> number of shapes of a selected label without an area
            (line, point, ...; not drawn).
    """

    drawn: int = 0
    other_labels: Counter[str] = field(default_factory=Counter)
    no_area: Counter[str] = field(default_factory=Counter)

    def __add__(self, other: ShapeTally) -> ShapeTally:
        return ShapeTally(
            self.drawn + other.drawn,
            self.other_labels + other.other_labels,
            self.no_area + other.no_area,
        )

    @property
    def skipped(self) -> int:
        """Shapes not drawn."""
        return sum(self.other_labels.values()) + sum(self.no_area.values())

    def summary(self) -> str:
        """One line, e.g. ``labelme: 40 shapes drawn; 3 shapes with other labels (tumour
        x2, artefact x1) and 2 shapes without area (line x1, point x1) not drawn``."""

        def counts(counter: Counter[str]) -> str:
            return ", ".join(f"{name} x{n}" for name, n in counter.most_common())

        left_out = []
        if self.other_labels:
            n = sum(self.other_labels.values())
            left_out.append(
                f"{n} shape{'s' * (n != 1)} with other labels ({counts(self.other_labels)})"
            )
        if self.no_area:
            n = sum(self.no_area.values())
            left_out.append(f"{n} shape{'s' * (n != 1)} without area ({counts(self.no_area)})")
        drawn = f"labelme: {self.drawn} shape{'s' * (self.drawn != 1)} drawn"
        return drawn + ("; " + " and ".join(left_out) + " not drawn" if left_out else "")


def tally_shapes(shapes: Iterable[Shape], labels: Sequence[str]) -> ShapeTally:
    """Count which shapes a mask of ``labels`` draws and which it leaves out.

    Args:
        shapes: e.g. :attr:`LabelmeAnnotation.shapes`.
        labels: the labels drawn.

    Returns:
        The :class:`ShapeTally`.
    """
    tally = ShapeTally()
    for shape in shapes:
        if shape.label not in labels:
            tally.other_labels[shape.label] += 1
        elif shape.shape_type not in DRAWABLE_SHAPES:
            tally.no_area[shape.shape_type] += 1
        else:
            tally.drawn += 1
    return tally


def read_labelme(path: str | Path, *, validate: bool = True) -> LabelmeAnnotation:
    """Read a Labelme JSON file (labelme 3.x, 4.x and 5.x).

    Args:
        path: the ``.json`` file.
        validate: check every shape with an area now (enough points, points within the
            image bounds by at most one pixel) so a bad file fails on reading, not later
            when a mask is drawn. Shapes without area (lines, points, ...) are only
            parsed: they are never drawn.

    Returns:
        The :class:`LabelmeAnnotation`.

    Raises:
        LabelmeError: not JSON, missing keys, wrong types, malformed points, polygons
            with fewer than 3 points, rectangles or circles without exactly 2, points
            outside the image. The message names the file and the shape.
    """
    path = Path(path)
    raw = _read_json_object(path)
    image_data = _image_data(path, raw)
    image_path = _image_path(path, raw)
    flags = raw.get("flags") or {}
    if not isinstance(flags, dict):
        raise LabelmeError(f"{path}: 'flags' must be an object, got {type(flags).__name__}")
    height, width = _image_size(path, raw, image_data, image_path)
    shapes = [_parse_shape(path, i, s) for i, s in enumerate(raw["shapes"])]
    annotation = LabelmeAnnotation(
        path=path,
        version=str(raw.get("version", "")),
        image_shape=(height, width),
        shapes=shapes,
        image_path=image_path,
        flags=dict(flags),
        _image_data=image_data,
    )
    if validate:
        for shape in shapes:
            _validate_shape(path, shape, (height, width))
    return annotation


def _read_json_object(path: Path) -> dict:
    """The file's JSON object, which must hold a ``shapes`` list."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabelmeError(f"{path}: no such Labelme file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LabelmeError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise LabelmeError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    if "shapes" not in raw:
        raise LabelmeError(f"{path}: missing key 'shapes' (not a Labelme file?)")
    if not isinstance(raw["shapes"], list):
        raise LabelmeError(f"{path}: 'shapes' must be a list, got {type(raw['shapes']).__name__}")
    return raw


def _image_data(path: Path, raw: dict) -> bytes | None:
    """The embedded image (``imageData``, base64) as bytes, or None."""
    if not raw.get("imageData"):
        return None
    try:
        return base64.b64decode(raw["imageData"], validate=False)
    except (binascii.Error, TypeError, ValueError) as exc:  # ValueError: non-ASCII
        raise LabelmeError(f"{path}: imageData is not valid base64 ({exc})") from exc


def _image_path(path: Path, raw: dict) -> Path | None:
    """The image file ``imagePath`` names, resolved beside the JSON, or None."""
    if not raw.get("imagePath"):
        return None
    if not isinstance(raw["imagePath"], str) or "\x00" in raw["imagePath"]:
        raise LabelmeError(f"{path}: 'imagePath' must be a file name, got {raw['imagePath']!r:.80}")
    # Labelme on Windows writes backslashes; keep only the file name's relative parts.
    rel = (
        PureWindowsPath(raw["imagePath"]).as_posix()
        if "\\" in raw["imagePath"]
        else raw["imagePath"]
    )
    return (path.parent / rel).resolve()


def _image_size(
    path: Path, raw: dict, image_data: bytes | None, image_path: Path | None
) -> tuple[int, int]:
    """``(height, width)``: from the file, else from the embedded or referenced image."""
    height, width = raw.get("imageHeight"), raw.get("imageWidth")
    if height is None or width is None:  # labelme 3.x files may lack them
        if image_data is not None:
            try:
                shape = decode_image(image_data, source=f"{path} (imageData)").shape
            except ImageReadError as exc:
                raise LabelmeError(str(exc)) from exc
        elif image_path is not None and image_path.exists():
            try:
                with Image.open(image_path) as img:
                    shape = (img.height, img.width)
            except (OSError, Image.DecompressionBombError) as exc:
                raise LabelmeError(
                    f"{path}: imagePath {image_path}: not a readable image ({exc})"
                ) from exc
        else:
            raise LabelmeError(
                f"{path}: no imageHeight/imageWidth and no image to take the size from"
            )
        height, width = shape[0], shape[1]
    for key, value in (("imageHeight", height), ("imageWidth", width)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise LabelmeError(f"{path}: '{key}' must be a positive integer, got {value!r}")
    if height * width > MAX_IMAGE_PIXELS:
        raise LabelmeError(
            f"{path}: image size {width}x{height} exceeds {MAX_IMAGE_PIXELS} pixels (corrupt size?)"
        )
    return height, width


def _parse_shape(path: Path, index: int, raw: object) -> Shape:
    if not isinstance(raw, dict):
        raise LabelmeError(f"{path}: shape #{index} must be an object, got {type(raw).__name__}")
    label = raw.get("label")
    if not isinstance(label, str) or not label:
        raise LabelmeError(f"{path}: shape #{index} has no label (got {label!r})")
    shape_type = raw.get("shape_type") or "polygon"  # labelme 3.x omitted it for polygons
    if not isinstance(shape_type, str):
        raise LabelmeError(f"{path}: shape #{index} ('{label}'): shape_type must be a string")
    points = raw.get("points")
    try:
        array = np.asarray(points, dtype=float)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a huge JSON integer
        array = None
    if array is None or array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise LabelmeError(
            f"{path}: shape #{index} ({shape_type!r}, label {label!r}): 'points' must be a "
            f"non-empty list of [x, y] pairs, got {points!r:.80}"
        )
    if not np.all(np.isfinite(array)):
        raise LabelmeError(
            f"{path}: shape #{index} ({shape_type!r}, label {label!r}): non-finite coordinates"
        )
    return Shape(label=label, shape_type=shape_type, points=array, index=index)


def _validate_shape(path: Path, shape: Shape, image_shape: tuple[int, int]) -> None:
    if shape.shape_type not in DRAWABLE_SHAPES:
        return  # never drawn, so nothing to check beyond parsing
    n = len(shape.points)
    if shape.shape_type == "polygon" and n < 3:
        raise LabelmeError(
            f"{path}: {_shape_name(shape)} has {n} points; a polygon needs at least 3"
        )
    if shape.shape_type in ("rectangle", "circle") and n != 2:
        raise LabelmeError(f"{path}: {_shape_name(shape)} has {n} points; expected 2")
    height, width = image_shape
    # A circle's rim point may lie outside the image; its centre may not.
    checked = shape.points[:1] if shape.shape_type == "circle" else shape.points
    x, y = checked[:, 0], checked[:, 1]
    if x.min() < -1 or y.min() < -1 or x.max() > width or y.max() > height:
        raise LabelmeError(
            f"{path}: {_shape_name(shape)} has points outside the {width}x{height} image "
            f"(x {x.min():.1f}..{x.max():.1f}, y {y.min():.1f}..{y.max():.1f})"
        )
