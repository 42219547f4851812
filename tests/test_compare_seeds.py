"""`steer evaluate compare` with a label repeated: one model's seeds, averaged with their 95 % interval."""

import json
import math

import pytest
from scipy.stats import t as student_t

from steer.errors import SteerError
from steer.evaluation.compare import compare, markdown, parse_reports

ALPHAS = [-8.0, 0.0, 8.0]


def report(folder, l2, achieved, limit):
    folder.mkdir(parents=True)
    metrics = {"edit": "ShiftX(max_shift=8)", "alphas": ALPHAS, "walk_error": l2, "baseline_error": [0.2, 0.0, 0.2],
               "achieved_alpha": achieved, "limit": limit}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return f"{folder}"


def test_a_repeated_label_averages_its_seeds_with_a_t_interval(tmp_path):
    items = [f"a={report(tmp_path / f'a{i}', [l2, 0.0, l2], [-4.0 - i, 0.0, 4.0 + i], {'negative': None, 'positive': 8.0})}"
             for i, l2 in enumerate([0.1, 0.2, 0.3])]
    items.append(f"b={report(tmp_path / 'b', [0.05, 0.0, 0.06], [-7.0, 0.0, 7.0], {'negative': -8.0, 'positive': 8.0})}")
    got = compare(parse_reports(items))
    a, b = got["models"]["a"], got["models"]["b"]
    assert a["seeds"] == 3 and len(a["per_seed"]) == 3
    assert a["masked_l2"] == pytest.approx([0.2, 0.0, 0.2])
    half = student_t.ppf(0.975, 2) * 0.1 / math.sqrt(3)
    assert a["masked_l2_ci95"][0][0] == pytest.approx(0.2 - half)
    assert a["masked_l2_ci95"][1][2] == pytest.approx(0.2 + half)
    assert a["achieved"] == pytest.approx([-5.0, 0.0, 5.0])
    assert a["limit"] == [{"negative": None, "positive": 8.0}] * 3
    assert "seeds" not in b and b["masked_l2"] == [0.05, 0.0, 0.06]  # one report: the row as before
    table = markdown(got)
    assert f"| a (3 seeds) | 0.2000 ± {half:.2g} |" in table and "| b | 0.0500 |" in table
    json.dumps(got, allow_nan=False)  # no NaN in the written JSON (the identity's interval is exactly 0 here)


def test_the_same_folder_twice_for_one_label_is_refused(tmp_path):
    folder = report(tmp_path / "a", [0.1, 0.0, 0.1], [-4.0, 0.0, 4.0], {"negative": None, "positive": None})
    with pytest.raises(SteerError, match="twice for 'a'"):
        parse_reports([f"a={folder}", f"a={folder}"])


def test_errors_inside_and_beyond_the_training_range_and_the_reduction_against_the_first_model(tmp_path):
    def five(folder, l2):
        folder.mkdir(parents=True)
        metrics = {"edit": "ShiftX(max_shift=4)", "alphas": [-8.0, -4.0, 0.0, 4.0, 8.0], "walk_error": l2,
                   "baseline_error": [0.2, 0.1, 0.0, 0.1, 0.2], "in_training_range": [False, True, True, True, False],
                   "achieved_alpha": [-2.0, -1.0, 0.0, 1.0, 2.0], "limit": {"negative": None, "positive": None}}
        (folder / "metrics.json").write_text(json.dumps(metrics))
        return f"{folder}"

    items = [f"a={five(tmp_path / f'a{i}', [0.4, 0.2, 0.0, 0.2, 0.4])}" for i in range(2)]
    items += [f"c={five(tmp_path / 'c0', [0.3, 0.1, 0.0, 0.1, 0.3])}", f"c={five(tmp_path / 'c1', [0.2, 0.1, 0.0, 0.1, 0.2])}"]
    got = compare(parse_reports(items))["ranges"]
    assert got["models"]["a"]["inside"]["per_seed"] == pytest.approx([0.2, 0.2])  # the identity left out
    assert got["models"]["c"]["beyond"]["per_seed"] == pytest.approx([0.3, 0.2])
    assert got["reduction_vs"] == "a"
    assert got["reduction"]["c"]["inside"]["per_seed"] == pytest.approx([0.5, 0.5])
    assert got["reduction"]["c"]["beyond"]["mean"] == pytest.approx(1 - 0.25 / 0.4)
