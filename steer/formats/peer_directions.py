"""Direction files written by other tools, read as the fields of steer's direction record.

The format is told by content, not by name:

* GANSpace (Härkönen et al. 2020) components, ``np.savez``: ``lat_comp``
  (k, *latent shape) unit latent directions, ``var_ratio`` (k,) the share of
  the activations' variance each explains, ``lat_stdev`` (k,) the latents'
  spread along each (plus ``act_*`` activation-space fields, not needed).
* InterFaceGAN (Shen et al. 2020) boundaries, ``np.save``: the unit normal
  n (1, latent_dim) of a linear SVM's hyperplane; walking z + t·n changes the
  attribute. A (k, latent_dim) stack is read as k boundaries.
* rosinality ``closed_form_factorization.py`` (SeFa on stylegan2-pytorch),
  ``torch.save``: ``{"ckpt": path, "eigvec": V}`` with V (d, d) from the SVD
  of the stacked modulation weights, one direction per *column*, largest
  singular value first.

NumPy files are read with ``allow_pickle=False`` and torch files with
``weights_only=True``: nothing in them runs.
"""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np
import torch

from steer.checkpoint import PathLike
from steer.errors import SteerError

NPY_MAGIC = b"\x93NUMPY"
GANSPACE = "GANSpace components"
INTERFACEGAN = "an InterFaceGAN boundary"
ROSINALITY = "a rosinality closed_form_factorization factor"


def numpy_kind(path: PathLike) -> str | None:
    """``"npy"`` or ``"npz"`` when the file at ``path`` is a NumPy array or archive (by its bytes), else None."""
    with open(path, "rb") as f:
        head = f.read(len(NPY_MAGIC))
    if head == NPY_MAGIC:
        return "npy"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if names and all(name.endswith(".npy") for name in names):  # a torch.save archive holds data.pkl etc.
            return "npz"
    return None


def _fields(directions: Any, scores: Any, method: str, score_name: str, path: PathLike, what: str,
            **params: Any) -> dict:
    """The keyword arguments of a direction record for directions read from another tool's file."""
    return {"directions": torch.as_tensor(np.asarray(directions, dtype=np.float32)),
            "scores": torch.as_tensor(np.asarray(scores, dtype=np.float32)), "method": method, "generator": {},
            "score_name": score_name, "params": {"imported_from": str(path), "format": what, **params}}


def read_numpy(path: PathLike, kind: str) -> dict:
    """The direction-record fields of a GANSpace ``.npz`` or an InterFaceGAN ``.npy``."""
    try:
        found = np.load(path, allow_pickle=False)
        if kind == "npz":
            with found:
                arrays = {name: np.asarray(found[name]) for name in found.files}
        else:
            arrays = {"": found}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SteerError(f"{path} is a NumPy file that cannot be read ({reason}); it is truncated or holds Python "
                         "objects, which steer does not load. Use another copy.") from None
    return _interfacegan(arrays[""], path) if kind == "npy" else _ganspace(arrays, path)


def _interfacegan(boundary: np.ndarray, path: PathLike) -> dict:
    if boundary.dtype.kind not in "fiu" or boundary.ndim not in (1, 2) or boundary.size == 0:
        raise SteerError(f"{path} holds a {boundary.dtype} array of shape {boundary.shape}; {INTERFACEGAN} is a "
                         "float array of shape (1, latent_dim) (or (k, latent_dim) for k boundaries).")
    rows = boundary.reshape(1, -1) if boundary.ndim == 1 else boundary
    return _fields(rows, np.ones(len(rows)), "interfacegan", "boundary", path, INTERFACEGAN,
                   shape=list(boundary.shape))


def _ganspace(arrays: dict[str, np.ndarray], path: PathLike) -> dict:
    if "lat_comp" not in arrays:
        raise SteerError(f"{path} is a NumPy archive of {', '.join(sorted(arrays)) or 'no arrays'}; a file of "
                         f"{GANSPACE} holds lat_comp (and var_ratio, lat_stdev). Give the .npz GANSpace's decomposition "
                         "wrote, or a steer direction file.")
    comp = arrays["lat_comp"]
    if comp.dtype.kind != "f" or comp.ndim < 2 or comp.size == 0:
        raise SteerError(f"{path}: lat_comp is a {comp.dtype} array of shape {comp.shape}; a file of {GANSPACE} "
                         "holds float directions of shape (k, 1, latent_dim) or (k, latent_dim).")
    k = len(comp)
    ratio = arrays.get("var_ratio")
    scores = ratio.reshape(-1) if ratio is not None and ratio.size == k else np.ones(k)
    stdev = arrays.get("lat_stdev")
    extra = {"lat_stdev": stdev.reshape(-1).tolist()} if stdev is not None and stdev.size == k else {}
    return _fields(comp.reshape(k, -1), scores, "ganspace", "explained variance ratio", path, GANSPACE,
                   shape=list(comp.shape), **extra)


def read_torch(obj: Any, path: PathLike) -> dict | None:
    """The direction-record fields of a rosinality ``factor.pt`` already loaded as ``obj``; None if it is not one."""
    if not isinstance(obj, dict) or "eigvec" not in obj:
        return None
    eigvec = obj["eigvec"]
    if not isinstance(eigvec, torch.Tensor) or eigvec.dim() != 2 or not eigvec.is_floating_point():
        shape = tuple(eigvec.shape) if isinstance(eigvec, torch.Tensor) else type(eigvec).__name__
        raise SteerError(f"{path}: eigvec is {shape}; {ROSINALITY} is a float matrix (latent_dim, k) with one "
                         "direction per column.")
    k = eigvec.shape[1]
    ckpt = obj.get("ckpt")
    return _fields(eigvec.T.float().numpy(), np.arange(k, 0, -1), "sefa", "rank (largest singular value first)",
                   path, ROSINALITY, shape=list(eigvec.shape), **({"ckpt": ckpt} if isinstance(ckpt, str) else {}))


def describe(params: dict) -> str:
    """What imported directions are, e.g. ``GANSpace components (lat_comp of shape (20, 1, 512))``."""
    what, shape = params.get("format"), tuple(params.get("shape", ()))
    field = {GANSPACE: "lat_comp", ROSINALITY: "eigvec"}.get(what, "array")
    return f"{what} ({field} of shape {shape})"

