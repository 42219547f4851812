"""A generator that steer trained itself, read from its train.py checkpoint, and the loaders of generators by name.

The trained run is rebuilt from its checkpoint record: the recorded module
class path goes through :func:`steer.config.build` (the one place a class path becomes an object;
nothing in the file runs, and it names only trusted classes), its weights are loaded, and its
``generator`` is taken. The generators layer never imports the code that restores whole runs.
"""

from __future__ import annotations

from pathlib import Path

from pytorch_lightning import LightningModule
from torch import Tensor

from steer.checkpoint import load_matching_state
from steer.config import build
from steer.errors import SteerError
from steer.formats.record import read_record
from steer.generators.base import Generator
from steer.generators.reference import completed_state, rebuilt


def build_generator(spec: dict, recorded_in: str | None = None) -> Generator:
    """A generator from its class_path + init_args (as in a config's ``generator:`` section); ``recorded_in``:
    the file the spec was read from, whose classes must be trusted (:func:`steer.config.check_trusted`)."""
    return build(spec, Generator, "generator", recorded_in=recorded_in)


def recorded_generator(spec: dict, recorded_in: str) -> Generator:
    """The generator a file records (a direction file's ``generator``: ``{"checkpoint": path}`` or class_path +
    init_args), frozen; the classes it names must be trusted."""
    if not isinstance(spec, dict):
        raise SteerError(f"{recorded_in} records its generator as a {type(spec).__name__}, not as a checkpoint or a "
                         "class_path + init_args; it is damaged. Give the generator with --checkpoint or --generator.")
    if not spec:
        raise SteerError(f"{recorded_in} records no generator (directions another tool found); give the generator "
                         "they steer (--generator or --checkpoint), or record it with `steer export peer`.")
    if "checkpoint" in spec:
        return load_generator(spec["checkpoint"])
    return build_generator(spec, recorded_in).freeze()


def generator_of(module: LightningModule, checkpoint_path: str) -> Generator:
    """The generator of a loaded run (walk, GAN or β-VAE), frozen; a clear error for runs without one."""
    gen = getattr(module, "generator", None)
    if not isinstance(gen, Generator):
        raise SteerError(f"{checkpoint_path} holds a {type(module).__name__}, which has no generator to steer; "
                         "give a checkpoint of a walk, GAN or VAE run, or --generator.")
    return gen.freeze()


def load_generator(checkpoint_path: str | None = None, generator: dict | None = None) -> Generator:
    """The generator a discovery command works on, frozen: from a steer checkpoint, or built from a spec.

    ``checkpoint_path``: a train.py checkpoint whose module has a ``generator``
    (a walk run, a GAN run, a β-VAE run); its trained weights are loaded.
    ``generator``: class_path + init_args, used when no checkpoint is given.
    Default (neither): the pretrained DigiFace DCGAN.
    """
    if checkpoint_path is not None and generator is not None:
        raise SteerError("give either --checkpoint (a trained run) or --generator (a generator spec), not both.")
    if checkpoint_path is None:
        return build_generator(generator or {"class_path": "steer.generators.DigiFaceDCGAN"}).freeze()
    return _trained(checkpoint_path)[0]


def _trained(checkpoint_path: str) -> tuple[Generator, dict | None]:
    """The generator of a steer checkpoint, frozen, with its trained weights; and the spec of a generator with its
    network that reads no file (None: none)."""
    ckpt, record = read_record(Path(checkpoint_path))
    where, model = str(checkpoint_path), record["config"]["model"]

    def built(architecture: dict | None) -> LightningModule:
        spec = model if architecture is None else {
            **model, "init_args": {**model.get("init_args", {}), "generator": architecture}}
        return build(spec, LightningModule, "model recorded in the checkpoint", recorded_in=where)

    module = rebuilt(built, record, where)
    load_matching_state(module, completed_state(module, ckpt, where), where,
                        "The checkpoint is damaged or was edited; use another copy.")
    generator = generator_of(module.eval(), checkpoint_path)
    recorded = model.get("init_args", {}).get("generator")
    if generator.weights_files:
        return generator, generator.architecture()
    return generator, recorded if isinstance(recorded, dict) and "class_path" in recorded else None


class TrainedGenerator(Generator):
    """The generator inside a steer checkpoint (a GAN run, a β-VAE run, a joint run), with its trained weights.

    A walk on a generator steer trained names it by its checkpoint:
    ``generator: {class_path: steer.generators.TrainedGenerator, init_args: {checkpoint: PATH}}``.
    The checkpoint's recorded config rebuilds the network (nothing in the
    file runs); every capability of the inner generator (first projection,
    features, walk mask) is passed through.

    ``network`` instead of ``checkpoint``: the spec of the inner generator,
    built untrained; a walk checkpoint that embeds the trained weights is
    rebuilt so when the checkpoint it names is gone.
    """

    weights_option = "checkpoint"

    def __init__(self, checkpoint: str | None = None, network: dict | None = None) -> None:
        if (checkpoint is None) == (network is None):
            raise SteerError("TrainedGenerator takes checkpoint (a steer checkpoint of a GAN, β-VAE, joint or walk "
                             "run) or network (the spec of its generator, untrained); give one of them.")
        inner, network = _trained(checkpoint) if checkpoint is not None else (build_generator(network).freeze(), network)
        super().__init__(inner.latent_dim, inner.resolution, inner.num_classes, inner.truncation)
        self.checkpoint = checkpoint
        self.inner = inner
        self.network = network

    @property
    def weights_files(self) -> tuple[str, ...]:
        return () if self.checkpoint is None else (self.checkpoint,)

    def architecture(self) -> dict | None:
        return None if self.network is None else {"class_path": "steer.generators.TrainedGenerator",
                                                  "init_args": {"network": self.network}}

    def sample_latent(self, n: int, generator=None) -> Tensor:  # noqa: ANN001 - torch.Generator
        return self.inner.sample_latent(n, generator)

    def synthesize(self, z: Tensor, y: Tensor | None) -> Tensor:
        return self.inner.synthesize(z, y)

    @property
    def walk_mask(self) -> Tensor | None:
        return self.inner.walk_mask

    def first_projection(self) -> Tensor:
        return self.inner.first_projection()

    @property
    def default_layer(self) -> str | None:  # layers are named from the inner generator, as in its own spec
        return self.inner.default_layer

    def latent_lift(self, layer: str) -> Tensor | None:
        return self.inner.latent_lift(layer)

    def features(self, z: Tensor, layer: str, y: Tensor | None = None) -> Tensor:
        return self.inner.features(z, layer, y)
