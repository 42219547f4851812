"""The Generator contract every model steer steers must meet (docs/architecture.md, Contracts between parts)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from steer.errors import SteerError

LISTED_LAYERS = 24  # layer names an unknown-layer error lists before it says how to list them all


class _Captured(BaseException):
    """Stops a forward pass once the hooked layer has run (:meth:`Generator.features`); never leaves it.

    A BaseException, so that an ``except Exception`` in a generator's own
    forward (a user's model, a wrapper turning errors into one line) lets it pass.
    """


def check_finite(x: Tensor, owner: str, what: str = "latents") -> None:
    """Refuse NaN or infinite ``x`` with one line naming ``owner``; CPU tensors only.

    On an accelerator the check would cost a host synchronisation per call
    (the generator and the walk run several times per step), so it is left
    out there, as it is while ``torch.compile`` traces; a NaN that reaches
    training is still caught by the loss check, which names the step.
    """
    if x.device.type != "cpu" or torch.compiler.is_compiling():
        return
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).flatten(1).any(1).sum()) if x.dim() > 1 else int((~torch.isfinite(x)).sum())
        raise SteerError(
            f"{owner} got {what} with NaN or infinite values ({bad} of {len(x)} rows); "
            "check where they come from (a diverged walk, a bad latent file)."
        )


class Generator(nn.Module):
    """A generative model seen through one interface.

    Subclasses set ``latent_dim``, ``num_classes`` (None if unconditional) and
    ``resolution``, and implement ``synthesize(z, y)`` returning images in
    [-1, 1], NCHW. Optional: ``first_projection()`` (SeFa). Intermediate
    features for PCA come from any submodule, named by its path from the
    generator itself (``features``); ``default_layer`` is PCA's layer when none
    is named, ``latent_lift`` says when a layer's output is the latent itself.

    Latents are (N, latent_dim). ``truncation`` (None = off) draws each latent
    coordinate from a normal truncated to [-truncation, truncation].
    """

    def __init__(
        self,
        latent_dim: int,
        resolution: int,
        num_classes: int | None = None,
        truncation: float | None = None,
    ) -> None:
        super().__init__()
        if latent_dim <= 0 or resolution <= 0:
            raise SteerError(
                f"latent_dim and resolution must be positive, got latent_dim={latent_dim}, "
                f"resolution={resolution}."
            )
        if num_classes is not None and num_classes <= 0:
            raise SteerError(f"num_classes must be positive or None, got {num_classes}.")
        if truncation is not None and truncation <= 0:
            raise SteerError(f"truncation must be positive or None (off), got {truncation}.")
        self.latent_dim = latent_dim
        self.resolution = resolution
        self.num_classes = num_classes
        self.truncation = truncation
        self._frozen = False

    # -- sampling -----------------------------------------------------------
    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` latents on the CPU, N(0, I), truncated if ``truncation`` is set.

        Truncation uses the inverse CDF: u ~ U(Φ(-t), Φ(t)), z = Φ⁻¹(u).
        """
        if self.truncation is None:
            return torch.randn(n, self.latent_dim, generator=generator)
        lo = 0.5 * (1 + math.erf(-self.truncation / math.sqrt(2)))
        u = torch.rand(n, self.latent_dim, generator=generator, dtype=torch.float64)
        return torch.special.ndtri(lo + u * (1 - 2 * lo)).float()

    def check_classes(self, classes: Sequence[int] | None) -> list[int] | None:
        """``classes`` (class indices to use; None: all, drawn uniformly) checked against the generator's classes."""
        if classes is None:
            return None
        owner = type(self).__name__
        if self.num_classes is None:
            raise SteerError(f"--classes {list(classes)} was given, but {owner} is unconditional (it has no "
                             "classes); leave --classes out.")
        bad = [c for c in classes if not 0 <= c < self.num_classes]
        if bad or not classes:
            raise SteerError(f"--classes {list(classes)}: {owner} has the classes 0..{self.num_classes - 1}; "
                             "give indices among them, e.g. [0, 1], or leave --classes out for all of them.")
        return [int(c) for c in classes]

    def sample_class(self, n: int, generator: torch.Generator | None = None,
                     classes: Sequence[int] | None = None) -> Tensor | None:
        """``n`` class indices, or None for an unconditional generator: uniform over all classes, or, with
        ``classes``, those indices in turn (c_0, c_1, …, c_0, …) so that each one is used."""
        if self.num_classes is None:
            return None
        if classes is not None:
            return torch.as_tensor(list(classes), dtype=torch.long)[torch.arange(n) % len(classes)]
        return torch.randint(self.num_classes, (n,), generator=generator)

    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | None = None,
        classes: Sequence[int] | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """``n`` latents and classes (None if unconditional; ``classes``: see :meth:`sample_class`), drawn in that
        order from ``generator``, on ``device``."""
        z, y = self.sample_latent(n, generator), self.sample_class(n, generator, classes)
        return z.to(device), (y.to(device) if y is not None else None)

    # -- synthesis ----------------------------------------------------------
    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Images in [-1, 1], NCHW, for latents ``z`` (N, latent_dim) and classes ``y``."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise SteerError(
                f"{type(self).__name__} takes latents of shape (N, {self.latent_dim}), "
                f"got {tuple(z.shape)}."
            )
        check_finite(z, type(self).__name__)
        if (y is None) != (self.num_classes is None):
            need = "class labels y" if self.num_classes else "no class labels"
            raise SteerError(f"{type(self).__name__} needs {need} (num_classes={self.num_classes}).")
        return self.synthesize(z, y)

    def synthesize(self, z: Tensor, y: Tensor | None) -> Tensor:
        """The model's own forward pass; called by ``forward`` after the checks."""
        raise NotImplementedError

    # -- pretrained weights: what a walk checkpoint references instead of embedding ------------------
    #: The option that names this generator's weights file, for messages on a moved or changed file
    #: (e.g. "checkpoint"); None: the generator reads no file.
    weights_option: str | None = None

    @property
    def weights_files(self) -> tuple[str, ...]:
        """The files this generator's pretrained weights were read from.

        A walk checkpoint records their paths and sha256 instead of the
        weights (docs/architecture.md, Checkpoints). Empty (the default): the
        weights come from no file (e.g. random init), and walk checkpoints
        embed them.
        """
        return ()

    def architecture(self) -> dict | None:
        """class_path + init_args of a generator with this one's network and state-dict keys that reads no file:
        what a walk checkpoint that embeds the weights is rebuilt with when the weights file is gone. None: none."""
        return None

    # -- optional capabilities --------------------------------------------------
    @property
    def walk_mask(self) -> Tensor | None:
        """(latent_dim,): 1 where a walk may move the latent, 0 where it must stay; None: everywhere."""
        return None

    def first_projection(self) -> Tensor:
        """The matrix A (out × latent_dim) of the first affine map from z, for SeFa."""
        raise SteerError(
            f"{type(self).__name__} does not expose its first projection, so closed-form "
            "(SeFa) directions are not available for it; use PCA or trajectories instead."
        )

    default_layer: str | None = None  # PCA's layer when none is named (StyleGAN: the mapping, i.e. PCA on w)

    def layer_names(self) -> list[str]:
        """Paths of every submodule, from the generator itself (``main.2``, ``net.style``, ``module.fc``)."""
        return [name for name, _ in self.named_modules() if name]

    def feature_layer(self, name: str) -> nn.Module:
        """The submodule at path ``name``; an unknown name is refused with the valid ones."""
        names = self.layer_names()
        if name not in names:
            owner = type(self).__name__
            if not names:
                raise SteerError(f"{owner} has no submodules, so PCA has no layer to read features from; "
                                 "use `steer discover sefa`, or trajectories (`steer discover trajectories`).")
            shown = ", ".join(names[:LISTED_LAYERS])
            more = (f", … ({len(names)} in all; `[n for n, _ in generator.named_modules()]` in Python lists them)"
                    if len(names) > LISTED_LAYERS else "")
            raise SteerError(f"{owner} has no layer {name!r}; layers are module paths from the generator: "
                             f"{shown}{more}.")
        return self.get_submodule(name)

    def latent_lift(self, layer: str) -> Tensor | None:
        """L (latent_dim × D) when the latent holds ``layer``'s output f itself (latent = L f), else None.

        StyleGAN steered in w or W+ holds w = mapping(z): PCA's components in w
        are then directions as they are (written into the latent by L), with no
        regression on the latent.
        """
        return None

    def features(self, z: Tensor, layer: str, y: Tensor | None = None) -> Tensor:
        """The output of submodule ``layer`` when the generator makes images of ``z`` and ``y`` (for PCA).

        A forward hook takes the output and stops the pass there, so the rest
        of the network is not run. Where ``latent_lift`` gives L, the features
        are read from the latent instead: f = L⁺ z.
        """
        module = self.feature_layer(layer)
        lift = self.latent_lift(layer)
        if lift is not None:
            return z @ torch.linalg.pinv(lift.to(z)).T
        held: list[object] = []

        def hold(_module: nn.Module, _inputs: object, output: object) -> None:
            held.append(output)
            raise _Captured

        handle = module.register_forward_hook(hold)
        try:
            self(z, y)
        except _Captured:
            pass
        finally:
            handle.remove()
        if not held:
            raise SteerError(f"layer {layer!r} of {type(self).__name__} does not run when it makes images; "
                             "choose a module its forward uses.")
        if not isinstance(held[0], Tensor):
            raise SteerError(f"layer {layer!r} of {type(self).__name__} returns a {type(held[0]).__name__}, "
                             "not a tensor; choose a module that returns one (e.g. one of its children).")
        return held[0]

    # -- freezing -------------------------------------------------------------
    def freeze(self) -> Generator:
        """Eval mode and no gradients to the weights, kept through ``.train()`` calls.

        Lightning calls ``train()`` on the whole LightningModule at fit start; a
        frozen generator must not switch its BatchNorm or spectral norm back to
        training behaviour, so ``train`` keeps it in eval mode.
        """
        self._frozen = True
        self.requires_grad_(False)
        return self.eval()

    @property
    def frozen(self) -> bool:
        return self._frozen

    def train(self, mode: bool = True) -> Generator:
        return super().train(mode and not self._frozen)
