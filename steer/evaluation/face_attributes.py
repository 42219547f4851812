"""Face size and centre of walked faces against edited faces (Jahanian et al. 2020, "On the steerability of
GANs", Fig. 3; docs/methods.md "Face attributes on DigiFace").

For every α of the edit's test grid, a face detector measures the edit's face
attribute (face width in pixels for a zoom, face centre x or y for a shift) on

* walked images G(z + αw), and
* the α = 0 samples edited by α, edit(G(z), α),

over the same n latents. The two distributions are compared by their histogram
intersection (50 bins on [0, image size]):

    HI(p, q) = Σ_i min(p_i, q_i)

``hist_intersection`` counts every image in the total and undetected faces in
no bin (a walk that loses the face loses intersection); ``hist_intersection_detected``
normalises each side by its detected faces only (the shapes alone).

The detector is OpenCV's Haar cascade ``haarcascade_frontalface_alt2.xml``, the
model file inside the ``opencv-python-headless`` wheel (no download). On 64 px
DigiFace samples it finds a face in about 80 % of images once they are
upsampled 4× (docs/methods.md gives the rates per edit and α).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from steer.data.latents import evaluation_latents
from steer.edits import Edit
from steer.errors import SteerError
from steer.evaluation.attribute_steering import nanstd
from steer.generators.base import Generator
from steer.objective import repeat_alpha, walked_image
from steer.sprites.histograms import histograms, intersection
from steer.walks import Walk

FACE_COLUMNS = ("x", "y", "size")  # what FaceDetector returns per image: face centre x, y and width, in pixels
FACE_ATTRIBUTE = {"x": "x", "y": "y", "area": "size"}  # an edit's attribute (Edit.attributes) → its face column


def face_attribute(edit: Edit) -> str:
    """The face column (x, y or size) that ``edit`` moves, or a clear error for an edit that moves none."""
    if edit.sliders != 1 or len(edit.attributes) != 1 or edit.attributes[0] not in FACE_ATTRIBUTE:
        raise SteerError(f"{edit.name} moves no face attribute a face detector measures; the face evaluation takes "
                         "a zoom (face size) or a shift (face centre): Zoom, ShiftX or ShiftY.")
    return FACE_ATTRIBUTE[edit.attributes[0]]


class FaceDetector:
    """The largest frontal face per image by OpenCV's bundled Haar cascade, as (N, 3) face centre x, y and
    width in the input's pixels; NaN where no face is found.

    Images in [-1, 1] are upsampled ``upsample``× (bilinear) and turned grey first;
    ``scale_factor``, ``min_neighbors`` and ``min_size`` (in upsampled pixels) are
    ``cv2.CascadeClassifier.detectMultiScale``'s.
    """

    def __init__(self, cascade: str = "haarcascade_frontalface_alt2.xml", upsample: int = 4,
                 scale_factor: float = 1.05, min_neighbors: int = 3, min_size: int = 20) -> None:
        try:
            import cv2
        except ImportError as error:
            raise SteerError("the face evaluation needs OpenCV: pip install 'steer[faces]' "
                             "(opencv-python-headless, whose wheel holds the face cascade).") from error
        self.cv2 = cv2
        self.classifier = cv2.CascadeClassifier(cv2.data.haarcascades + cascade)
        if self.classifier.empty():
            raise SteerError(f"OpenCV has no cascade {cascade!r}; choose one of cv2.data.haarcascades, e.g. "
                             "haarcascade_frontalface_alt2.xml.")
        self.upsample, self.scale_factor, self.min_neighbors, self.min_size = (upsample, scale_factor, min_neighbors,
                                                                               min_size)

    def settings(self) -> dict:
        return {"detector": "OpenCV Haar cascade", "opencv": self.cv2.__version__, "upsample": self.upsample,
                "scale_factor": self.scale_factor, "min_neighbors": self.min_neighbors, "min_size": self.min_size}

    def __call__(self, images: Tensor) -> Tensor:
        big = F.interpolate(images.float().cpu(), scale_factor=self.upsample, mode="bilinear", align_corners=False)
        grey = ((big.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        grey = grey.permute(0, 2, 3, 1).numpy() if grey.shape[1] == 3 else grey[:, 0, ..., None].numpy()
        found = torch.full((len(images), 3), torch.nan)
        for i, image in enumerate(grey):
            image = self.cv2.cvtColor(image, self.cv2.COLOR_RGB2GRAY) if image.shape[-1] == 3 else image[..., 0]
            boxes = self.classifier.detectMultiScale(image, scaleFactor=self.scale_factor,
                                                     minNeighbors=self.min_neighbors,
                                                     minSize=(self.min_size, self.min_size))
            if len(boxes):
                x, y, w, h = max(np.asarray(boxes).tolist(), key=lambda b: b[2] * b[3])
                found[i] = torch.tensor([x + w / 2, y + h / 2, w], dtype=torch.float32) / self.upsample
        return found


@dataclass
class FaceSteering:
    """The face attribute per α (rows) and latent (columns) of walked and edited images; NaN: no face found."""

    edit: Edit
    alphas: Tensor  # (A, 1)
    attribute: str  # x, y or size
    walked: Tensor  # (A, n) on G(z + αw)
    edited: Tensor  # (A, n) on edit(G(z), α)
    size: int  # image side in pixels: histograms span [0, size]

    def intersection(self, detected_only: bool = False) -> Tensor:
        """HI per α; undetected faces count in the totals (or, ``detected_only``, not at all)."""
        hi = []
        for walked, edited in zip(self.walked, self.edited):
            p, q = (histograms(v[:, None] / self.size)[0] for v in (walked, edited))
            n_p, n_q = (float(p.sum()), float(q.sum())) if detected_only else (len(walked), len(edited))
            hi.append(intersection(p, q, n_p, n_q))
        return torch.stack(hi)

    def to_json(self) -> dict:
        def stats(values: Tensor) -> dict:
            return {"detection_rate": (~values.isnan()).float().mean(1).tolist(), "mean": values.nanmean(1).tolist(),
                    "std": nanstd(values).tolist()}

        return {"edit": repr(self.edit), "attribute": self.attribute, "unit": "px", "alphas": self.alphas[:, 0].tolist(),
                "n": self.walked.shape[1], "walked": stats(self.walked), "edited": stats(self.edited),
                "hist_intersection": self.intersection().tolist(),
                "hist_intersection_detected": self.intersection(detected_only=True).tolist()}


Detector = Callable[[Tensor], Tensor]


@torch.no_grad()
def measure_faces(generator: Generator, edit: Edit, walk: Walk, detector: Detector, n: int = 500,
                  batch_size: int = 50, seed: int = 0, alphas: Tensor | None = None,
                  progress: bool = True) -> FaceSteering:
    """The edit's face attribute on G(z + αw) and on edit(G(z), α) for n seeded latents and every α of ``alphas``
    (default: the edit's test grid). Refuses a generator in whose first batch of α = 0 samples no face is found."""
    column = FACE_COLUMNS.index(face_attribute(edit))
    alphas = edit.check_alpha(edit.test_alphas() if alphas is None else alphas)
    device = next(generator.parameters(), torch.empty(0)).device
    walked: list[list[Tensor]] = [[] for _ in alphas]
    edited: list[list[Tensor]] = [[] for _ in alphas]
    batches = evaluation_latents(generator.sample, n, batch_size, seed)
    for b, (z, y) in enumerate(tqdm(batches, desc="detecting faces", unit="batch", total=-(-n // batch_size),
                                    disable=not progress)):
        z, y = z.to(device), (y.to(device) if y is not None else None)
        samples = generator(z, y)
        if b == 0 and detector(samples)[:, column].isnan().all():
            raise SteerError(f"no face found in any of {len(z)} samples of the generator: the face evaluation needs a "
                             "face generator (e.g. steer.generators.DigiFaceDCGAN).")
        for a, alpha in enumerate(alphas):
            strength = repeat_alpha(alpha, len(z), z)
            walked[a].append(detector(walked_image(generator, edit, walk, z, strength, y))[:, column])
            edited[a].append(detector(edit(samples, strength)[0])[:, column])
    return FaceSteering(edit, alphas.cpu(), FACE_COLUMNS[column], torch.stack([torch.cat(w) for w in walked]),
                        torch.stack([torch.cat(e) for e in edited]), generator.resolution)
