"""Means over seeds with their 95 % confidence interval (Student's t), for every headline that names its seeds."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import t as student_t


def mean_ci(values: ArrayLike, level: float = 0.95) -> dict[str, list | float | int]:
    """Mean over the first axis (the seeds) and its two-sided ``level`` interval, mean ± t_{n−1} · s / √n.

    ``values`` (n_seeds, …); NaN entries (a seed that measured nothing there) are left out per position. With
    one seed the interval is NaN on both sides: a single run gives no spread. Returns lists shaped like one
    seed's values (floats for scalars) under ``mean``, ``low``, ``high``, ``std`` and ``n`` per position.
    """
    x = np.asarray(values, dtype=float)
    n = np.sum(np.isfinite(x), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(x, axis=0) if x.size else np.full(x.shape[1:], np.nan)
        std = np.nanstd(x, axis=0, ddof=1) if x.shape[0] > 1 else np.full(x.shape[1:], np.nan)
        half = student_t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * std / np.sqrt(n)
    half = np.where(n > 1, half, np.nan)

    def out(a: np.ndarray) -> list | float:
        return a.tolist() if np.ndim(a) else float(a)

    return {"mean": out(mean), "low": out(mean - half), "high": out(mean + half), "std": out(std),
            "n": n.tolist() if np.ndim(n) else int(n), "level": level}
