"""Input checks shared by the metric modules: labels, scores, masks, counts, confidence."""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats


def binary_vector(values: ArrayLike, name: str) -> NDArray[np.bool_]:
    """Check a 1-D vector of binary labels and return it as booleans.

    Args:
        values: shape (n,); bool, or numbers that are all 0 or 1.
        name: the argument's name, used in error messages.

    Returns:
        Shape (n,) boolean array (``True`` = class 1 / positive).

    Raises:
        ValueError: not 1-D, empty, or holding anything other than 0/1 (NaN included).
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector of 0/1 labels, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    return binary_array(array, name)


def binary_array(values: ArrayLike, name: str) -> NDArray[np.bool_]:
    """Check an array (any shape) of binary values and return it as booleans.

    Args:
        values: bool, or numbers that are all 0 or 1.
        name: the argument's name, used in error messages.

    Returns:
        The boolean array, same shape (``True`` where the value is 1).

    Raises:
        ValueError: not numeric, or holding anything other than 0/1 (NaN included).
    """
    array = np.asarray(values)
    if array.dtype == np.bool_:
        return array
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must hold 0/1 or booleans, got dtype {array.dtype}")
    is_binary = (array == 0) | (array == 1)
    if not is_binary.all():
        bad = np.unique(array[~is_binary])[:5]
        raise ValueError(f"{name} must hold only 0/1 (or booleans); found {bad.tolist()}")
    return array == 1


def finite_vector(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """Check a 1-D vector of finite real numbers (e.g. classifier scores).

    Args:
        values: shape (n,).
        name: the argument's name, used in error messages.

    Returns:
        Shape (n,) float64 array.

    Raises:
        ValueError: not 1-D, empty, not numeric, or holding NaN/inf.
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds {int((~np.isfinite(array)).sum())} NaN/inf value(s)")
    return array


def same_length(first: NDArray, second: NDArray, first_name: str, second_name: str) -> None:
    """Raise ``ValueError`` unless two vectors have the same length."""
    if first.shape[0] != second.shape[0]:
        raise ValueError(
            f"{first_name} and {second_name} differ in length: "
            f"{first.shape[0]} vs {second.shape[0]}"
        )


def count(value: object, name: str) -> int:
    """Check a cell count: a non-negative whole number (int, numpy int, or whole float)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a non-negative integer count, got {value!r}")
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise ValueError(f"{name} must be a non-negative integer count, got {value!r}")
    return int(value)


def z_value(confidence: float) -> float:
    """Two-sided standard-normal quantile for a confidence level in (0, 1).

    Args:
        confidence: e.g. 0.95.

    Returns:
        ``z`` with ``P(|Z| <= z) = confidence`` (1.959964 for 0.95).

    Raises:
        ValueError: confidence outside the open interval (0, 1).
    """
    if not isinstance(confidence, numbers.Real) or not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    return float(stats.norm.ppf(0.5 + float(confidence) / 2.0))
