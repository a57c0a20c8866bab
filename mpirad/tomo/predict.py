"""Apply a trained Study A run to new tomograms (``mpirad predict tomo``).

A *model* is one finished split folder (``.../study_a/<unit>/split_<k>/``, with
``run.json`` and ``checkpoints/{classifier,segmenter}/best.pt``) or the folder above
several splits (their ensemble). Each image goes through the preprocessing the run
recorded (:func:`mpirad.tomo.preprocess.network_input`: LV centre, crop, resize,
max-normalise); then

* the classifier gives the probability of ischemia; an ensemble averages the splits'
  probabilities (``probability``) and reports their spread (``probability_sd``,
  ``probability_min``, ``probability_max``);
* images whose probability reaches the run's threshold are segmented: the segmenter's
  pixel probabilities (averaged over an ensemble) are resized back to the crop,
  thresholded and put back into the source image's pixel grid
  (:func:`mpirad.tomo.preprocess.place_crop`). Images predicted 0 get no mask.

:func:`write_predictions` writes ``predictions.csv`` / ``predictions.json``,
``masks/<image>.png`` (0/255, source grid) and ``overlays/<image>.png`` (the predicted
outline on the tomogram).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydicom
import torch
from torch import nn
from tqdm.auto import tqdm

from mpirad.io import atomic_write, write_png
from mpirad.io.atomic import write_json
from mpirad.io.dicom import quiet_pydicom
from mpirad.io.png import read_png
from mpirad.io.seg import is_dicom
from mpirad.io.tomograms import scan_labelme_export, to_float_image
from mpirad.tomo.card import ensure_split_card
from mpirad.tomo.models import WeightsError, build_classifier, build_segmenter, read_weights_file
from mpirad.tomo.overlay import save_outline_overlay
from mpirad.tomo.preprocess import PreprocessConfig, network_input, place_crop, resize_stack
from mpirad.tomo.train import predict_logits, select_device

TASKS = ("classifier", "segmenter")


class ModelDirError(ValueError):
    """A folder that holds no trained Study A model (names the folder and what is missing)."""


class ImageSizeError(ValueError):
    """An image the model cannot handle (names the file, its size and the model's)."""


@dataclass(frozen=True)
class SplitModel:
    """The two trained networks of one split (in evaluation mode, on the CPU).

    Attributes:
        directory: the split folder.
        classifier: ``(N, 1, S, S)`` -> ``(N, 2)`` logits.
        segmenter: ``(N, 1, S, S)`` -> ``(N, 1, S, S)`` logits.
        run: the split's ``run.json``.
        card: its ``model_card.md``.
    """

    directory: Path
    classifier: nn.Module
    segmenter: nn.Module
    run: dict[str, Any]
    card: Path


@dataclass(frozen=True)
class TomoModel:
    """One split or an ensemble of splits, with the preprocessing they share.

    Attributes:
        directory: the folder given.
        splits: the splits' models (one, or the ensemble's).
        config: crop and input sizes the run recorded.
        threshold: probability cut-off (classification and pixels).
        source_shapes: ``(H, W)`` of the training images, or None when not recorded.
        mixed_precision: autocast on CUDA, as in training.
    """

    directory: Path
    splits: tuple[SplitModel, ...]
    config: PreprocessConfig
    threshold: float
    source_shapes: tuple[tuple[int, int], ...] | None
    mixed_precision: bool = True

    @property
    def cards(self) -> list[Path]:
        return [split.card for split in self.splits]


def _split_folders(directory: Path) -> list[Path]:
    """``[directory]`` for a split folder, its ``split_*`` children for a parent folder."""
    if not directory.is_dir():
        raise ModelDirError(f"{directory}: no such model folder")
    if (directory / "run.json").is_file():
        return [directory]
    children = sorted(
        (p for p in directory.glob("split_*") if (p / "run.json").is_file()),
        key=lambda p: int(p.name.rpartition("_")[2]) if p.name[6:].isdigit() else 0,
    )
    if not children:
        raise ModelDirError(
            f"{directory}: not a trained Study A model: no run.json here nor in split_*/ "
            f"(give a split folder such as build/runs/<dataset>/<profile>/study_a/patient/"
            f"split_1, or the folder above the splits for an ensemble)"
        )
    return children


def _network(task: str, path: Path) -> nn.Module:
    """A classifier or segmenter with the weights of a ``best.pt`` checkpoint, in eval mode."""
    if not path.is_file():
        raise ModelDirError(f"{path.parent.parent.parent}: {task} weights missing ({path})")
    state = read_weights_file(path)
    model = build_classifier() if task == "classifier" else build_segmenter()
    try:
        model.load_state_dict(state["model"])  # type: ignore[index]
    except (KeyError, TypeError, RuntimeError) as exc:
        raise WeightsError(f"{path}: not a checkpoint of the Study A {task} ({exc})") from exc
    return model.eval()


def load_split_model(directory: str | Path) -> SplitModel:
    """Load the classifier and segmenter of one finished split.

    Raises:
        ModelDirError: no ``run.json`` or weights; WeightsError: unreadable weights.
    """
    directory = Path(directory)
    try:
        run = json.loads((directory / "run.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"{directory}: unreadable run.json ({exc})") from exc
    folder = directory / "checkpoints"
    classifier = _network("classifier", folder / "classifier" / "best.pt")
    segmenter = _network("segmenter", folder / "segmenter" / "best.pt")
    return SplitModel(directory, classifier, segmenter, run, ensure_split_card(directory))


def _shared(splits: Sequence[SplitModel], directory: Path) -> dict[str, Any]:
    """The profile all splits share (preprocessing, threshold); refuse a mixed ensemble."""
    profiles = [split.run.get("settings", {}).get("profile") for split in splits]
    if any(not isinstance(p, dict) or "preprocess" not in p for p in profiles):
        raise ModelDirError(f"{directory}: a run.json without the profile's preprocessing")
    keys = {json.dumps([p["preprocess"], p.get("threshold")], sort_keys=True) for p in profiles}
    if len(keys) > 1:
        raise ModelDirError(
            f"{directory}: its splits were trained with different preprocessing or thresholds "
            f"({sorted(keys)}); ensemble splits of one run only"
        )
    return profiles[0]


def load_tomo_model(directory: str | Path) -> TomoModel:
    """Load a split's model, or the ensemble of the splits under ``directory``.

    Args:
        directory: a finished split folder, or the folder holding ``split_*/``.

    Returns:
        The :class:`TomoModel`.

    Raises:
        ModelDirError: not a trained model, weights missing, or mixed preprocessing.
    """
    directory = Path(directory)
    splits = tuple(load_split_model(folder) for folder in _split_folders(directory))
    profile = _shared(splits, directory)
    shapes = [split.run.get("source_shapes") for split in splits]
    known = None
    if all(shapes):
        known = tuple(sorted({(int(h), int(w)) for s in shapes for h, w in s}))  # type: ignore[union-attr]
    return TomoModel(
        directory=directory,
        splits=splits,
        config=PreprocessConfig(**profile["preprocess"]),
        threshold=float(profile.get("threshold", 0.5)),
        source_shapes=known,
        mixed_precision=bool(profile.get("classifier", {}).get("mixed_precision", True)),
    )


def _image_id(path: Path, base: Path | None) -> str:
    relative = path.relative_to(base) if base is not None else Path(path.name)
    return relative.with_suffix("").as_posix()


def _folder_images(folder: Path) -> pd.DataFrame:
    """A labelme-export dataset's images (with labels), else every PNG under ``folder``."""
    if any((child / "labels.csv").is_file() for child in folder.iterdir() if child.is_dir()):
        index = scan_labelme_export(folder)
        return pd.DataFrame(
            {
                "image": [f"{p}/{Path(i).stem}" for p, i in zip(index["patient_id"],
                                                                 index["image"], strict=True)],
                "path": index["png_path"],
                "label": index["label"].astype("Int64"),
            }
        )  # fmt: skip
    paths = sorted(p for p in folder.rglob("*.png") if "truth" not in p.relative_to(folder).parts)
    if not paths:
        raise FileNotFoundError(f"{folder}: no PNG images in this folder")
    return pd.DataFrame({"image": [_image_id(p, folder) for p in paths], "path": map(str, paths)})


def collect_images(sources: Sequence[str | Path]) -> pd.DataFrame:
    """The images to predict: PNG files, folders of PNGs, or manifest dataset names.

    A folder in the ``labelme-export`` layout (and a named Study A dataset) is read with
    its ``labels.csv``; the synthetic cohort's ``truth/`` folder is never read.

    Returns:
        One row per image: ``image`` (an id unique in the table: ``<patient>/<stem>``
        or the path under the folder given, without ``.png``), ``path``, and ``label``
        (0/1 where a ``labels.csv`` gives it, else missing).

    Raises:
        FileNotFoundError: a source that is neither a file, a folder nor a dataset name.
    """
    frames = []
    for source in sources:
        path = Path(source)
        if path.is_file() and is_dicom(path):
            frames.append(_dicom_frames(path))
        elif path.is_file():
            frames.append(pd.DataFrame({"image": [path.stem], "path": [str(path)]}))
        elif path.is_dir():
            frames.append(_folder_images(path))
        else:
            frames.append(_folder_images(_dataset_root(str(source))))
    if not frames:
        raise ValueError("no images given: name PNG files, folders or a dataset")
    table = pd.concat(frames, ignore_index=True)
    if "label" not in table:
        table["label"] = pd.array([pd.NA] * len(table), dtype="Int64")
    duplicate = table["image"].duplicated(keep=False)
    table.loc[duplicate, "image"] += "_" + table.index[duplicate].astype(str)
    if "frame" in table:  # DICOM inputs: their 1-based frame; PNG rows: missing
        table["frame"] = table["frame"].astype("Int64")
        return table[["image", "path", "label", "frame"]]
    return table[["image", "path", "label"]]


def _dicom_frames(path: Path) -> pd.DataFrame:
    """One row per frame of a DICOM image file (``<stem>`` or ``<stem>-frameNNN``)."""
    with quiet_pydicom():
        header = pydicom.dcmread(path, stop_before_pixels=True)
    count = int(header.get("NumberOfFrames", 1) or 1)
    names = (
        [path.stem] if count == 1 else [f"{path.stem}-frame{k:03d}" for k in range(1, count + 1)]
    )
    return pd.DataFrame({"image": names, "path": str(path), "frame": range(1, count + 1)})


def read_dicom_frame(path: str | Path, frame: int) -> np.ndarray:
    """Frame ``frame`` (1-based) of a DICOM image as the 8-bit picture `mpirad export-dicom`
    writes as PNG (:func:`mpirad.privacy.export.render_frames`: its VOI window, else the
    frame's min-max), as a float64 ``(H, W)`` image like a PNG tomogram's."""
    from mpirad.privacy.export import render_frames

    with quiet_pydicom():
        ds = pydicom.dcmread(path)
    for index, picture, _rendering in render_frames(ds, path):
        if index == frame - 1:
            return to_float_image(picture, source=f"{path} frame {frame}")
    raise ValueError(f"{path}: no frame {frame}")


def _dataset_root(name: str) -> Path:
    """A manifest dataset's folder (a synthetic one generated if absent)."""
    from mpirad.manifest import get_dataset

    try:
        entry = get_dataset(name)
    except (KeyError, ValueError) as exc:
        raise FileNotFoundError(
            f"{name}: neither a PNG file, a folder nor a dataset of data_manifest.yaml"
        ) from exc
    return entry.ensure().root


@dataclass
class Prepared:
    """Images read and preprocessed for the networks.

    Attributes:
        inputs: ``(N, 1, S, S)`` float32 network inputs.
        centres: ``(N, 2)`` LV centres (row, col) in source pixels.
        sources: the ``(H, W)`` float64 source images.
    """

    inputs: torch.Tensor
    centres: np.ndarray
    sources: list[np.ndarray] = field(default_factory=list)


def check_image_size(shape: tuple[int, int], model: TomoModel, path: str) -> None:
    """Refuse an image whose pixel grid differs from the training images'.

    The crop is ``config.crop_size`` *source pixels*: on an image of another size (another
    pixel size or field of view) it would cover another part of the heart than in training.

    Raises:
        ImageSizeError: the size is not among the training sizes (when recorded), or the
            image is smaller than a quarter of the crop.
    """
    config = model.config
    trained = model.source_shapes
    if trained is not None and tuple(shape) not in trained:
        sizes = ", ".join(f"{h}x{w}" for h, w in trained)
        raise ImageSizeError(
            f"{path}: {shape[0]}x{shape[1]} pixels, but the model ({model.directory}) was "
            f"trained on {sizes} images with a {config.crop_size}-pixel LV crop resized to "
            f"{config.input_size}; resample the image to the training grid or use a model "
            f"trained on images of this size"
        )
    if min(shape) < max(8, config.crop_size // 4):
        raise ImageSizeError(
            f"{path}: {shape[0]}x{shape[1]} pixels is too small for the model's "
            f"{config.crop_size}-pixel LV crop ({model.directory})"
        )


def prepare_images(table: pd.DataFrame, model: TomoModel, *, progress: bool = True) -> Prepared:
    """Read each image, check its size, and preprocess it as the run did.

    Raises:
        mpirad.io.png.ImageReadError: a corrupt or unreadable PNG (named);
        ImageSizeError; LVNotFoundError: no LV in an image (named).
    """
    size = model.config.input_size
    inputs = np.empty((len(table), 1, size, size), dtype=np.float32)
    centres = np.empty((len(table), 2), dtype=np.float64)
    sources = []
    frames = table["frame"] if "frame" in table else pd.Series(pd.NA, index=table.index)
    rows = tqdm(list(zip(table["path"], frames, strict=True)), desc="reading images",
                disable=not progress)  # fmt: skip
    for number, (path, frame) in enumerate(rows):
        if pd.isna(frame):
            image = to_float_image(read_png(path), source=str(path))
        else:
            image = read_dicom_frame(path, int(frame))
        check_image_size(image.shape, model, str(path))
        inputs[number, 0], centres[number] = network_input(image, model.config, source=str(path))
        sources.append(image)
    return Prepared(torch.from_numpy(inputs), centres, sources)


@dataclass
class TomoPredictions:
    """What :func:`predict_tomo` found.

    Attributes:
        table: one row per image: ``image``, ``path``, ``label`` (if known),
            ``source_height``, ``source_width``, ``centre_row``, ``centre_col``,
            ``probability`` (mean over the models), ``probability_sd`` / ``_min`` /
            ``_max`` (spread over the splits; sd 0 for one split), ``n_models``,
            ``predicted`` (0/1), ``mask_pixels`` (source pixels; 0 when predicted 0).
        per_model: ``(N, M)`` probability of each split's classifier.
        masks: per image a ``(H, W)`` bool mask in the source grid, or None (predicted 0).
        sources: the ``(H, W)`` source images.
    """

    table: pd.DataFrame
    per_model: np.ndarray
    masks: list[np.ndarray | None]
    sources: list[np.ndarray]


def _classify(model: TomoModel, inputs: torch.Tensor, device: torch.device, batch: int,
              progress: bool) -> np.ndarray:  # fmt: skip
    """``(N, M)`` ischemia probabilities, one column per split."""
    columns = []
    for split in tqdm(model.splits, desc="classifying", disable=not progress):
        logits = predict_logits(split.classifier, inputs, batch_size=batch, device=device,
                                mixed_precision=model.mixed_precision)  # fmt: skip
        columns.append(torch.softmax(logits, dim=1)[:, 1].numpy().astype(np.float64))
        split.classifier.cpu()
    return np.stack(columns, axis=1) if columns else np.zeros((len(inputs), 0))


def _segment(model: TomoModel, inputs: torch.Tensor, device: torch.device, batch: int,
             progress: bool) -> np.ndarray:  # fmt: skip
    """``(n, S, S)`` pixel probabilities of ischemia, averaged over the splits."""
    total = np.zeros((len(inputs), *inputs.shape[-2:]), dtype=np.float64)
    if len(inputs) == 0:
        return total
    for split in tqdm(model.splits, desc="segmenting", disable=not progress):
        logits = predict_logits(split.segmenter, inputs, batch_size=batch, device=device,
                                mixed_precision=model.mixed_precision)  # fmt: skip
        total += torch.sigmoid(logits[:, 0]).numpy()
        split.segmenter.cpu()
    return total / len(model.splits)


def source_mask(
    probability: np.ndarray, centre: tuple[float, float], shape: tuple[int, int],
    config: PreprocessConfig, threshold: float,
) -> np.ndarray:  # fmt: skip
    """A segmenter probability map back in the source grid.

    Args:
        probability: ``(S, S)`` pixel probabilities at the network's input size.
        centre: the LV centre the crop was cut around (source pixels).
        shape: ``(H, W)`` of the source image.
        config: the crop and input sizes.
        threshold: pixel cut-off.

    Returns:
        ``(H, W)`` bool mask (bilinear resize to the crop, threshold, un-crop).
    """
    crop = resize_stack(probability[None].astype(np.float32), config.crop_size)[0]
    return place_crop(crop >= threshold, centre, shape, fill=False)


def predict_tomo(
    model: TomoModel,
    images: pd.DataFrame | Sequence[str | Path],
    *,
    device: str | torch.device | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> TomoPredictions:
    """Classify every image and segment those called ischemic.

    Args:
        model: :func:`load_tomo_model`'s result.
        images: :func:`collect_images`'s table, or the sources to give it.
        device: ``"cuda"`` or ``"cpu"``; default CUDA when available.
        batch_size: images per forward pass.
        progress: tqdm bars.

    Returns:
        The :class:`TomoPredictions` (see its attributes).
    """
    table = images if isinstance(images, pd.DataFrame) else collect_images(images)
    prepared = prepare_images(table, model, progress=progress)
    device = select_device(device)
    per_model = _classify(model, prepared.inputs, device, batch_size, progress)
    mean = per_model.mean(axis=1)
    called = np.flatnonzero(mean >= model.threshold)
    maps = _segment(model, prepared.inputs[called], device, batch_size, progress)
    masks: list[np.ndarray | None] = [None] * len(table)
    for row, probability in zip(called, maps, strict=True):
        centre = (float(prepared.centres[row, 0]), float(prepared.centres[row, 1]))
        shape = prepared.sources[row].shape
        masks[row] = source_mask(probability, centre, shape, model.config, model.threshold)
    out = table.reset_index(drop=True).copy()
    out["source_height"] = [s.shape[0] for s in prepared.sources]
    out["source_width"] = [s.shape[1] for s in prepared.sources]
    out["centre_row"], out["centre_col"] = prepared.centres[:, 0], prepared.centres[:, 1]
    out["probability"] = mean
    out["probability_sd"] = per_model.std(axis=1, ddof=1) if per_model.shape[1] > 1 else 0.0
    out["probability_min"], out["probability_max"] = per_model.min(axis=1), per_model.max(axis=1)
    out["n_models"] = per_model.shape[1]
    out["predicted"] = (mean >= model.threshold).astype(np.int64)
    out["mask_pixels"] = [0 if m is None else int(m.sum()) for m in masks]
    return TomoPredictions(out, per_model, masks, prepared.sources)


#: Why ``mpirad predict tomo --seg`` cannot write a SEG for PNG inputs.
PNG_SEG_MISSING = (
    "a DICOM SEG references the DICOM image (SOP Instance UID and frame) a mask lies on, and "
    "PNG tomograms carry no link to one: `mpirad export-dicom` keeps only keyed pseudonyms "
    "(dicom_index.csv: patient/study/series/instance ids), not the source UIDs or paths, and "
    "a Labelme export holds PNGs only. Predict the PNGs without --seg, or write the SEG "
    "from a DICOM image with mpirad.tomo.predict.write_ischemia_seg"
)


def model_identity(model: TomoModel) -> dict[str, str]:
    """The text parameters that identify a trained model in a SEG's algorithm
    identification: the model folder's name, each split's model card
    (``split_K/model_card.md``, relative to the model folder) and the threshold."""
    cards = []
    for split in model.splits:
        try:
            cards.append(split.card.relative_to(model.directory.parent).as_posix())
        except ValueError:
            cards.append(split.card.name)
    return {
        "model": model.directory.name,
        "model_card": "; ".join(cards),
        "threshold": f"{model.threshold:g}",
    }


def write_ischemia_seg(
    mask: np.ndarray,
    source: str | Path,
    path: str | Path,
    identity: dict[str, str],
    *,
    frame: int | None = None,
) -> Path:
    """Write a predicted ischemic area as a DICOM SEG over its DICOM source image.

    Args:
        mask: ``(H, W)`` bool mask in the source image's pixel grid (as
            :attr:`TomoPredictions.masks` holds it).
        source: the DICOM image the prediction was made on (single-frame, or one frame of
            a multi-frame file: ``frame``).
        path: the SEG file to write.
        identity: the model's identification (:func:`model_identity`): stored as the
            algorithm's parameters, the model card named there.
        frame: the 1-based frame of a multi-frame source; None for a single frame.

    Returns:
        ``path``: one segment labelled ``ischemic area`` (SCT "Myocardial ischemia"), the
        algorithm "mpirad tomo" with mpirad's version, family artificial intelligence.

    Raises:
        mpirad.io.seg.SegError: a mask of another size than the frame, a frame out of range.
    """
    import mpirad
    from mpirad.io.seg import ISCHEMIA_LABEL, SegError, write_seg

    with quiet_pydicom():
        header = pydicom.dcmread(source, stop_before_pixels=True)
    frames = int(header.get("NumberOfFrames", 1) or 1)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (int(header.Rows), int(header.Columns)):
        raise SegError(
            f"{source}: the mask is {mask.shape[0]}x{mask.shape[1]} pixels, the image "
            f"{header.Rows}x{header.Columns}"
        )
    index = 0 if frame is None else int(frame) - 1
    if not 0 <= index < frames or (frame is None and frames > 1):
        raise SegError(f"{source}: frame {frame} of a {frames}-frame image (1-based; needed "
                       "for a multi-frame image)")  # fmt: skip
    stack = np.zeros((frames, *mask.shape), dtype=bool)
    stack[index] = mask
    return write_seg(
        {ISCHEMIA_LABEL: stack}, [header], path, algorithm_name="mpirad tomo",
        algorithm_version=mpirad.__version__, algorithm_family="ai",
        algorithm_parameters=identity, series_description="mpirad predicted ischemic area",
    )  # fmt: skip


def write_prediction_segs(
    predictions: TomoPredictions, model: TomoModel, out_dir: str | Path
) -> list[Path]:
    """Write ``seg/<image>.dcm`` under ``out_dir`` for every image predicted ischemic.

    Each SEG lies over the image's DICOM source frame (:func:`write_ischemia_seg`,
    the model identified by :func:`model_identity`).

    Raises:
        ValueError: some image is not a DICOM frame (:data:`PNG_SEG_MISSING`).
    """
    table = predictions.table
    if "frame" not in table or table["frame"].isna().any():
        pngs = table["path"][table["frame"].isna()] if "frame" in table else table["path"]
        raise ValueError(f"--seg: {PNG_SEG_MISSING} (PNG inputs: {', '.join(map(str, pngs[:3]))}"
                         f"{', ...' if len(pngs) > 3 else ''})")  # fmt: skip
    identity = model_identity(model)
    written = []
    for row, mask in zip(table.itertuples(), predictions.masks, strict=True):
        if mask is not None:
            target = Path(out_dir) / "seg" / f"{row.image}.dcm"
            written.append(write_ischemia_seg(mask, row.path, target, identity, frame=row.frame))
    return written


def write_predictions(
    predictions: TomoPredictions, model: TomoModel, out_dir: str | Path
) -> pd.DataFrame:
    """Write the table (CSV and JSON), the masks and the overlays under ``out_dir``.

    Files: ``predictions.csv``; ``predictions.json`` (the model, its cards, the
    preprocessing and the rows); ``masks/<image>.png`` (0/255, source grid, images
    predicted 1 only); ``overlays/<image>.png`` (every image, outline where predicted).

    Returns:
        The table with ``mask`` and ``overlay`` (paths relative to ``out_dir``; ``""``
        where there is no mask).
    """
    out_dir = Path(out_dir)
    table = predictions.table.copy()
    table["mask"], table["overlay"] = "", ""
    for row, (image_id, mask) in enumerate(zip(table["image"], predictions.masks, strict=True)):
        if mask is not None:
            table.loc[row, "mask"] = f"masks/{image_id}.png"
            write_png(out_dir / "masks" / f"{image_id}.png", mask.astype(np.uint8) * 255)
        table.loc[row, "overlay"] = f"overlays/{image_id}.png"
        save_outline_overlay(out_dir / "overlays" / f"{image_id}.png",
                             predictions.sources[row], mask)  # fmt: skip
    with atomic_write(out_dir / "predictions.csv", "w", encoding="utf-8") as handle:
        table.to_csv(handle, index=False)
    document = {
        "model": str(model.directory),
        "splits": [str(split.directory) for split in model.splits],
        "model_cards": [str(card) for card in model.cards],
        "preprocess": model.config.__dict__,
        "threshold": model.threshold,
        "images": json.loads(table.to_json(orient="records")),
    }
    write_json(out_dir / "predictions.json", document)
    return table
