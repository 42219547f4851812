"""Disentanglement metrics on known factors, as torchmetrics Metrics: ``update(codes, factors)``, ``compute()``.

``MIG`` (Chen et al. 2018), ``DCI`` (Eastwood & Williams 2018), ``FactorVAEScore``
(Kim & Mnih 2018) and ``SAP`` (Kumar et al. 2018); each module also has the
plain function on whole tensors. A code is (N, D) (encoder means, coordinates
along directions), the factors (N, K) (true or measured). docs/methods.md,
"Disentanglement metrics".
"""

from steer.metrics.dci import DCI, dci
from steer.metrics.factorvae import FactorVAEScore, factorvae_score
from steer.metrics.mig import MIG, mig, mig_per_factor
from steer.metrics.sap import SAP, sap

__all__ = ["DCI", "MIG", "SAP", "FactorVAEScore", "dci", "factorvae_score", "mig", "mig_per_factor", "sap"]
