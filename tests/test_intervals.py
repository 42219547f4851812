"""Means over seeds and their t intervals (steer.evaluation.intervals)."""

import math

import numpy as np
import pytest
from scipy.stats import t as student_t

from steer.evaluation.intervals import mean_ci


def test_three_seeds_give_the_t_interval_around_the_mean():
    got = mean_ci([1.0, 2.0, 3.0])
    half = student_t.ppf(0.975, 2) * 1.0 / math.sqrt(3)  # s = 1
    assert got["mean"] == pytest.approx(2.0)
    assert (got["low"], got["high"]) == pytest.approx((2.0 - half, 2.0 + half))
    assert got["n"] == 3 and got["std"] == pytest.approx(1.0)


def test_per_position_over_seeds_with_a_missing_value_left_out():
    got = mean_ci(np.array([[1.0, 4.0], [3.0, np.nan], [2.0, 6.0]]))
    assert got["mean"] == pytest.approx([2.0, 5.0])
    assert got["n"] == [3, 2]
    assert got["high"][1] - got["mean"][1] == pytest.approx(student_t.ppf(0.975, 1) * math.sqrt(2) / math.sqrt(2))


def test_one_seed_has_no_interval():
    got = mean_ci([[0.5, 0.7]])
    assert got["mean"] == pytest.approx([0.5, 0.7])
    assert all(math.isnan(v) for v in got["low"] + got["high"])
