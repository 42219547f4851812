"""Separated Attribute Predictability (Kumar, Sattigeri & Balakrishnan, ICLR 2018, §3).

    S_ik = R² of the linear regression of factor v_k on code dimension c_i = corr(c_i, v_k)²
    SAP  = (1/K) Σ_k [ S_{j(1) k} − S_{j(2) k} ]

with j(1), j(2) the dimensions of largest and second largest S_·k. The paper
scores categorical factors by a thresholding classifier's balanced accuracy;
steer treats every factor as a number (R² throughout), which for a factor with
ordered values, like sprites' shape index, is what a one-threshold split sees too.
"""

from __future__ import annotations

from torch import Tensor

from steer.errors import SteerError
from steer.metrics.collected import CodesAndFactors, check_pairs, standardised


def predictability(codes: Tensor, factors: Tensor) -> Tensor:
    """(D, K) S_ik = corr(c_i, v_k)²; 0 where either is constant."""
    c, v = standardised(codes), standardised(factors)
    return ((c.T @ v) / (len(c) - 1)).square()


def sap(codes: Tensor, factors: Tensor) -> Tensor:
    """SAP of codes (N, D) on factors (N, K), in [0, 1]."""
    check_pairs(codes, factors)
    if codes.shape[1] < 2:
        raise SteerError(f"SAP compares the two code dimensions that best predict a factor; the code has "
                         f"{codes.shape[1]} dimension(s).")
    top = predictability(codes, factors).topk(2, dim=0).values
    return (top[0] - top[1]).mean()


class SAP(CodesAndFactors):
    """SAP over every (code, factor) pair seen."""

    def compute(self) -> Tensor:
        return sap(*self.pairs())
