"""NVlabs StyleGAN network pickles (stylegan2-ada-pytorch, stylegan3) as steer generators, no NVlabs code run.

The ``.pkl`` is read by steer.formats.nvlabs_pickle (a restricted unpickler:
the source code stored in the file is never imported or executed); the
generator's ``mapping`` and ``synthesis`` records are rebuilt as steer's
own networks, chosen by :data:`NETWORKS` from the NVlabs class, built from
the stored constructor arguments and loaded strictly with the stored state.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from steer.checkpoint import load_matching_state
from steer.errors import SteerError
from steer.formats.nvlabs_pickle import PersistentObject, generator_record, load_snapshot
from steer.generators.nvlabs_layers import MappingNetwork, StyleGAN3MappingNetwork
from steer.generators.style_latents import StyleLatentGenerator
from steer.generators.stylegan2_ada import NOISE_MODES, StyleGAN2ADASynthesis, StyleGAN2Synthesis
from steer.generators.stylegan3 import StyleGAN3Synthesis

# NVlabs generator class → (steer mapping network, steer synthesis network), each built as
# cls(*record.init_args, **record.init_kwargs) of the stored mapping / synthesis record.
NETWORKS: dict[str, tuple[Callable[..., nn.Module], Callable[..., nn.Module]]] = {
    "training.networks.Generator": (MappingNetwork, StyleGAN2ADASynthesis),  # stylegan2-ada-pytorch
    "training.networks_stylegan2.Generator": (MappingNetwork, StyleGAN2Synthesis),  # stylegan3 repo, 'stylegan2'
    "training.networks_stylegan3.Generator": (StyleGAN3MappingNetwork, StyleGAN3Synthesis),  # stylegan3-t, -r
}


def _build(factory: Callable[..., nn.Module], record: PersistentObject, source: str) -> nn.Module:
    """``factory(*init_args, **init_kwargs)`` of ``record``, loaded strictly with the record's state."""
    try:
        module = factory(*record.init_args, **record.init_kwargs)
    except SteerError as e:
        raise SteerError(f"{source}: {e}") from None
    except TypeError as e:
        raise SteerError(
            f"{source}: its {record.qualified_name} uses a setting steer does not implement ({e}); "
            f"stored arguments: {sorted(record.init_kwargs)}."
        ) from None
    load_matching_state(module, record.state_dict(), f"the {record.class_name} network of {source}",
                        "The file's network differs from the NVlabs code steer reads; it may be a modified fork.")
    return module


class NVlabsStyleGAN(StyleLatentGenerator):
    """The generator of an NVlabs network snapshot (``.pkl``), steered in z, w or W+.

    ``pickle``: the snapshot; ``network``: ``G_ema`` (the averaged generator
    NVlabs samples with) or ``G``. Latent spaces and ``layers`` (the W+ rows a
    W+ latent holds and SeFa reads) as steer.generators.style_latents says;
    ``truncation_psi`` ψ uses the stored ``w_avg`` (None or 1: off).
    ``noise_mode``: 'const' (the stored noise images: an image is a function of
    its latent), 'random' (fresh noise per call) or 'none'. A conditional
    network (c_dim > 0) has ``num_classes`` = c_dim and reads class y as the
    one-hot c. Images are clamped to [-1, 1].
    """

    def __init__(self, pickle: str, network: str = "G_ema", latent_space: str = "w", layers: list[int] | None = None,
                 truncation_psi: float | None = None, noise_mode: str = "const", freeze: bool = True) -> None:
        if noise_mode not in NOISE_MODES:
            raise SteerError(f"NVlabsStyleGAN noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}.")
        source = f"NVlabs pickle {pickle}"
        record = generator_record(load_snapshot(pickle), network, source)
        if record.qualified_name not in NETWORKS:
            raise SteerError(
                f"{source}: its {network} is a {record.qualified_name} network, which this steer does not implement; it reads "
                f"{', '.join(NETWORKS)}."
            )
        mapping_factory, synthesis_factory = NETWORKS[record.qualified_name]
        synthesis = _build(synthesis_factory, record.child("synthesis"), source)
        mapping = _build(mapping_factory, record.child("mapping"), source)
        c_dim = int(mapping.c_dim)
        psi = None if truncation_psi in (None, 1, 1.0) else truncation_psi
        super().__init__(int(mapping.w_dim), int(synthesis.num_ws), int(synthesis.img_resolution), latent_space,
                         layers, psi, c_dim or None, z_dim=int(mapping.z_dim))
        self.pickle = pickle
        self.noise_mode = noise_mode
        self.mapping = mapping
        self.synthesis = synthesis
        if psi is not None and not hasattr(mapping, "w_avg"):
            raise SteerError(f"{source}: its mapping keeps no w_avg, so truncation_psi cannot be used; leave it unset.")
        if freeze:
            self.freeze()

    default_layer = "mapping"  # PCA on w, as GANSpace does for StyleGAN
    weights_option = "pickle"

    @property
    def weights_files(self) -> tuple[str, ...]:
        return (self.pickle,)

    @property
    def latent_avg(self) -> Tensor:
        """w̄: the mapping's ``w_avg``, the running mean of w NVlabs keeps in training."""
        return self.mapping.w_avg if hasattr(self.mapping, "w_avg") else self.mapping.fc0.weight.new_zeros(self.style_dim)

    def map(self, z: Tensor, y: Tensor | None) -> Tensor:
        c = None if y is None else F.one_hot(y.long(), self.num_classes).to(z.dtype)
        return self.mapping(z, c)

    def synthesize(self, z: Tensor, y: Tensor | None) -> Tensor:
        return self.synthesis(self.rows(z, y), noise_mode=self.noise_mode).clamp(-1, 1)

    def first_projection(self) -> Tensor:
        """A for SeFa: the effective style weights g·W of the synthesis' ``affine`` layers, per W+ row.

        Rows come from the synthesis' ``affine_rows()`` where it has one (StyleGAN2:
        the 3×3 convs, ToRGB left out as SeFa does); otherwise the k-th affine
        reads row k. :meth:`sefa_matrix` keeps the rows in ``layers``.
        """
        rows = getattr(self.synthesis, "affine_rows", None)
        pairs = rows() if rows is not None else list(enumerate(
            m for name, m in self.synthesis.named_modules() if name.rsplit(".", 1)[-1] == "affine"))
        return self.sefa_matrix([(r, a.weight * a.weight_gain) for r, a in pairs])
