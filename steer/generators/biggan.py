"""BigGAN-deep (Brock et al. 2019) through the ``pytorch-pretrained-biggan`` package, from local files.

steer builds the package's model from ``config.json`` and loads
``pytorch_model.bin`` itself (``weights_only=True``); it never calls
``from_pretrained``, which downloads. The package is imported only when a
BigGAN is built.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steer.checkpoint import is_state_dict, load, load_matching_state
from steer.errors import SteerError
from steer.generators.base import Generator

CONFIG = "config.json"
WEIGHTS = "pytorch_model.bin"
PACKAGE = "pytorch-pretrained-biggan"
DOWNLOAD = "https://s3.amazonaws.com/models.huggingface.co/biggan/"  # where the package's from_pretrained fetches
NOISE_BOUND = 2.0  # BigGAN's noise: truncation · z, z ~ N(0, I) truncated to [-2, 2]


def truncated_normal(n: int, d: int, bound: float, generator: torch.Generator | None) -> Tensor:
    """(n, d) draws of N(0, 1) truncated to [-bound, bound], by inverse CDF: z = Φ⁻¹(U(Φ(-b), Φ(b)))."""
    lo = 0.5 * (1 + math.erf(-bound / math.sqrt(2)))
    u = torch.rand(n, d, generator=generator, dtype=torch.float64)
    return torch.special.ndtri(lo + u * (1 - 2 * lo)).float()


def _files(weights_dir: str) -> tuple[Path, Path]:
    folder = Path(weights_dir)
    config, weights = folder / CONFIG, folder / WEIGHTS
    missing = [p.name for p in (config, weights) if not p.is_file()]
    if missing:
        where = f"folder {folder} does not exist" if not folder.is_dir() else f"{', '.join(missing)} missing there"
        raise SteerError(
            f"BigGAN needs {CONFIG} and {WEIGHTS} in {folder} ({where}). steer never downloads at run time: "
            f"on a machine with internet download biggan-deep-256-{CONFIG} and biggan-deep-256-{WEIGHTS} "
            f"(or -128, -512) from {DOWNLOAD}, rename them to {CONFIG} and {WEIGHTS}, and copy them into "
            f"{folder}. Until then the DigiFace DCGAN (steer.generators.DigiFaceDCGAN) works with no download."
        )
    return config, weights


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SteerError(
            f"BigGAN config {path} is not readable JSON ({e}). Use the config.json of the weights."
        ) from None
    needed = ("output_dim", "z_dim", "num_classes", "channel_width", "layers")
    if not isinstance(config, dict) or any(k not in config for k in needed):
        raise SteerError(f"BigGAN config {path} lacks {', '.join(needed)}: it is not a BigGAN config.json.")
    return config


def _package() -> Any:
    try:
        import pytorch_pretrained_biggan
    except ModuleNotFoundError as e:
        if e.name == "pytorch_pretrained_biggan":
            raise SteerError(f"BigGAN needs the '{PACKAGE}' package: run `pip install {PACKAGE}`.") from None
        raise SteerError(f"importing '{PACKAGE}' failed: it needs the module '{e.name}', not installed.") from None
    return pytorch_pretrained_biggan


class BigGAN(Generator):
    """Class-conditional BigGAN-deep from a folder holding ``config.json`` and ``pytorch_model.bin``.

    Latents z are (N, z_dim); classes y are indices, given to the model one-hot.
    ``truncation`` ψ ∈ (0, 1] is BigGAN's: ``sample_latent`` draws ψ·z with z
    from N(0, I) truncated to [-2, 2] (the noise the released weights expect),
    and the model uses the batch-norm statistics stored for ψ.
    """

    weights_option = "weights_dir"

    def __init__(self, weights_dir: str, truncation: float = 0.4, freeze: bool = True) -> None:
        if not 0 < truncation <= 1:
            raise SteerError(f"BigGAN truncation must be in (0, 1], got {truncation}.")
        config_path, weights_path = _files(weights_dir)
        config = _read_config(config_path)
        package = _package()
        super().__init__(config["z_dim"], config["output_dim"], config["num_classes"], truncation)
        self._files = (str(config_path), str(weights_path))
        self.model = package.BigGAN(package.BigGANConfig.from_dict(config))
        state = load(weights_path, "BigGAN weights")
        if not is_state_dict(state):
            raise SteerError(
                f"BigGAN weights {weights_path} are not a state dict of tensors: it is another kind of file."
            )
        hint = f"Use the {WEIGHTS} that came with this {CONFIG}."
        load_matching_state(self.model, state, f"BigGAN weights {weights_path}", hint)
        if freeze:
            self.freeze()

    @property
    def weights_files(self) -> tuple[str, ...]:
        return self._files

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """ψ·z, z ~ N(0, I) truncated to [-2, 2] (BigGAN's truncation trick)."""
        return self.truncation * truncated_normal(n, self.latent_dim, NOISE_BOUND, generator)

    def synthesize(self, z: Tensor, y: Tensor | None) -> Tensor:
        if y.dim() != 1 or y.shape[0] != z.shape[0] or y.is_floating_point():
            raise SteerError(f"BigGAN takes class indices y of shape ({z.shape[0]},), got {y.dtype} {tuple(y.shape)}.")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise SteerError(f"BigGAN class indices must lie in [0, {self.num_classes}); got {y.min()}..{y.max()}.")
        return self.model(z, F.one_hot(y.long(), self.num_classes).to(z.dtype), self.truncation)

    def first_projection(self) -> Tensor:
        """A = the z columns of ``generator.gen_z``, the first linear layer, on cat(z, embed(y)).

        gen_z is spectrally normalised: its weight is W / σ with σ = uᵀ W v from
        the stored power-iteration vectors (as in eval mode).
        """
        gen_z: nn.Linear = self.model.generator.gen_z
        w, u, v = gen_z.weight_orig, gen_z.weight_u, gen_z.weight_v
        sigma = torch.dot(u, torch.mv(w, v))
        return (w[:, : self.latent_dim] / sigma).detach()
