"""Histogram arithmetic of ``HistogramObserver`` (MegEngine 1.13's algorithm, in numpy).

``l2_optimal_range`` narrows a histogram's range step by step (dropping the side with
fewer counts) while the L2 error of quantizing into ``dst_nbins`` levels keeps falling;
``combine_histograms`` merges a new batch into a histogram whose range must grow.

Example:
    >>> import numpy as np
    >>> hist = np.zeros(16); hist[4:12] = 10; hist[15] = 1
    >>> l2_optimal_range(hist, 8)  # the outlier bin is dropped
    (4, 14)
"""

from __future__ import annotations

import numpy as np


def _norm(delta_begin: np.ndarray, delta_end: np.ndarray, density: np.ndarray) -> np.ndarray:
    """L2 norm of values uniformly spread over [begin, end]: ``density * (e^3 - b^3) / 3``."""
    return density * (delta_end**3 - delta_begin**3) / 3


def quantization_error(
    histogram: np.ndarray, start_bin: int, end_bin: int, dst_nbins: int
) -> float:
    """L2 error of quantizing bins ``start_bin..end_bin`` into ``dst_nbins`` levels (bin
    width 1: the caller's range only scales it)."""
    bins = len(histogram)
    bin_width = 1.0
    dst_width = bin_width * (end_bin - start_bin + 1) / dst_nbins
    if dst_width == 0.0:
        return 0.0
    src_begin = (np.arange(bins) - start_bin) * bin_width
    src_end = src_begin + bin_width
    dst_of_begin = np.clip(np.floor(src_begin / dst_width), 0, dst_nbins - 1)
    dst_of_end = np.clip(np.floor(src_end / dst_width), 0, dst_nbins - 1)
    begin_center = dst_of_begin * dst_width + dst_width / 2
    end_center = dst_of_end * dst_width + dst_width / 2
    density = histogram / bin_width
    half = dst_width / 2
    inside = _norm(src_begin - begin_center, src_end - begin_center, density)
    spread = (
        _norm(src_begin - begin_center, np.full(bins, half), density)
        + (dst_of_end - dst_of_begin - 1) * _norm(-half, half, density)
        + _norm(np.full(bins, -half), src_end - end_center, density)
    )
    return float(np.sum(np.where(dst_of_begin == dst_of_end, inside, spread)))


def l2_optimal_range(histogram: np.ndarray, dst_nbins: int) -> tuple[int, int]:
    """The ``(start_bin, end_bin)`` MegEngine's non-linear parameter search picks."""
    bins = len(histogram)
    total = float(np.sum(histogram))
    csum = np.cumsum(histogram, axis=0)
    stepsize = 1e-5
    alpha, beta = 0.0, 1.0
    start_bin, end_bin = 0, bins - 1
    norm_min = float("inf")
    while alpha < beta:
        next_alpha, next_beta = alpha + stepsize, beta - stepsize
        left, right = start_bin, end_bin
        while left < end_bin and csum[left] < next_alpha * total:
            left += 1
        while right > start_bin and csum[right] > next_beta * total:
            right -= 1
        next_start, next_end = start_bin, end_bin
        if (left - start_bin) > (end_bin - right):
            next_start, alpha = left, next_alpha
        else:
            next_end, beta = right, next_beta
        if next_start == start_bin and next_end == end_bin:
            continue
        norm = quantization_error(histogram, next_start, next_end, dst_nbins)
        if norm > norm_min:
            break
        norm_min, start_bin, end_bin = norm, next_start, next_end
    return start_bin, end_bin


def combine_histograms(
    histogram: np.ndarray, x: np.ndarray, min_val: np.ndarray, max_val: np.ndarray,
    combined_min: np.ndarray, combined_max: np.ndarray, bins: int, upsample_rate: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge batch ``x`` into ``histogram`` (over ``[min_val, max_val]``); returns the new
    histogram and its range, which covers ``[combined_min, combined_max]``.

    The bounds are float32 (0-d arrays or scalars) and the range arithmetic stays in
    float32, as MegEngine's, so that the bins fall where its bins fall."""
    hist_bin_width = (max_val - min_val) / (bins * upsample_rate)
    downsample_rate = int(np.ceil((combined_max - combined_min) / (bins * hist_bin_width)))
    e = downsample_rate * (bins * hist_bin_width) - (combined_max - combined_min)
    combined_max = combined_max + e / 2
    combined_min = combined_min - e / 2
    start_idx = int(np.round((min_val - combined_min) / hist_bin_width))
    new_histogram, _ = np.histogram(x, bins, (combined_min, combined_max))
    new_histogram = new_histogram.astype(np.float64)
    if combined_min == min_val and combined_max == max_val:
        return new_histogram + histogram, combined_min, combined_max
    upsampled = np.repeat(histogram, upsample_rate)
    with_range = np.zeros(bins * downsample_rate)
    with_range[start_idx : bins * upsample_rate + start_idx] = upsampled
    integral = np.cumsum(with_range, 0)[downsample_rate - 1 :: downsample_rate]
    shifted = np.zeros(bins)
    shifted[1:bins] = integral[0:-1]
    return new_histogram + (integral - shifted) / upsample_rate, combined_min, combined_max
