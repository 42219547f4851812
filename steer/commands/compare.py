"""`steer evaluate compare`: several models' steerability side by side, from their report folders."""

from __future__ import annotations

from steer.evaluation.compare import compare as compare_reports
from steer.evaluation.compare import comparison_report, parse_reports
from steer.reports.report import Report


def compare(reports: list[str]) -> Report:
    """Several models' steerability side by side, from their `steer evaluate steerability` report folders.

    Writes comparison.png (masked L2 and achieved α per α, one line per model)
    and comparison.json (per model: alphas, masked_l2, mean_<attribute>,
    achieved, limit) to OUT, and prints the tables as Markdown. A label given
    several times names one model's seeds: its row is their mean with the 95 %
    interval (Student t) of the masked L2 and achieved α, and each seed's limit.

    Args:
        reports: LABEL=FOLDER items, e.g. [a=reports/a, b=reports/b]; seeds of a model as
            [a=reports/a_seed0, a=reports/a_seed1, a=reports/a_seed2, b=…].
    """
    return comparison_report(compare_reports(parse_reports(reports)))
