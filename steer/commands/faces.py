"""`steer evaluate faces`: a zoom or shift walk's face size or centre per α against the edited samples'
(the steerability paper's Fig. 3 on a face generator)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from steer.commands.steerability import steered  # noqa: E402
from steer.edits import Edit  # noqa: E402
from steer.evaluation.face_attributes import FaceDetector, FaceSteering, face_attribute, measure_faces  # noqa: E402
from steer.evaluation.steerability import check_options  # noqa: E402
from steer.generators.base import Generator  # noqa: E402
from steer.reports.folder import save_figure  # noqa: E402
from steer.reports.report import Report  # noqa: E402

LABELS = {"x": "face centre x (px)", "y": "face centre y (px)", "size": "face width (px)"}


def faces(
    device: torch.device,
    checkpoint: str,
    n: int = 500,
    batch_size: int = 50,
    seed: int = 0,
    generator: Generator | None = None,
    edit: Edit | None = None,
    upsample: int = 4,
    min_neighbors: int = 3,
) -> Report:
    """A zoom or shift walk's face attribute per α against the α = 0 samples edited by α.

    For n seeded latents and every α of the edit's test grid, OpenCV's bundled
    Haar cascade finds the face in G(z + αw) and in edit(G(z), α); the edit
    decides the attribute (face width for Zoom, face centre x / y for ShiftX /
    ShiftY). Writes metrics.json (per α: detection rate, mean and std of the
    attribute, walked and edited, and their histogram intersection) and
    faces.png (the two histograms per α). Needs `pip install 'steer[faces]'`.

    Args:
        checkpoint: a .ckpt of a zoom or shift walk run on a face generator (e.g. configs/digiface/zoom_linear.yaml).
        n: number of latents.
        batch_size: latents per generator pass.
        seed: seed of the latents.
        generator: the generator; default: the one in the checkpoint.
        edit: the edit the walk is measured against; default: the checkpoint's.
        upsample: images are upsampled this many times before detection (the cascade's smallest face is 20 px).
        min_neighbors: the cascade's minNeighbors (higher: fewer, surer detections).
    """
    check_options(n, batch_size, 0.8)
    gen, the_edit, walk, record = steered(checkpoint, generator, None, edit)
    face_attribute(the_edit)  # before any slow work
    detector = FaceDetector(upsample=upsample, min_neighbors=min_neighbors)
    result = measure_faces(gen.to(device), the_edit, walk.to(device), detector, n, batch_size, seed)
    metrics = {**result.to_json(), "detector": detector.settings(), "seed": seed, "trained": record}
    rows = [[the_edit.describe(alpha), rate_w, rate_e, mean_w, mean_e, hi] for alpha, rate_w, rate_e, mean_w, mean_e, hi
            in zip(result.alphas, metrics["walked"]["detection_rate"], metrics["edited"]["detection_rate"],
                   metrics["walked"]["mean"], metrics["edited"]["mean"], metrics["hist_intersection"])]
    table = (["alpha", "found_walked", "found_edited", f"{result.attribute}_walked", f"{result.attribute}_edited",
              "hist_intersection"], rows)
    report = Report("metrics.json", metrics, {"faces.png": lambda path: plot_faces(result, path)}, table,
                    media={"faces/histograms": "faces.png"},
                    summary={"mean_hist_intersection": sum(metrics["hist_intersection"]) / len(rows)},
                    job_type="faces")
    report.generator, report.checkpoint, report.trained = gen, checkpoint, record
    return report


def plot_faces(result: FaceSteering, path: Path) -> Path:
    """One panel per α: the attribute's histogram on walked images and on edited samples, HI in the title."""
    bins = torch.linspace(0, result.size, 33).tolist()
    fig, axes = plt.subplots(1, len(result.alphas), figsize=(2.1 * len(result.alphas), 2.6), sharex=True, sharey=True)
    for ax, alpha, walked, edited, hi in zip(axes, result.alphas, result.walked, result.edited, result.intersection()):
        for values, label, colour in ((edited, "edit(G(z), α)", "tab:grey"), (walked, "G(z + αw)", "tab:blue")):
            found = values[~values.isnan()]
            ax.hist(found.tolist(), bins=bins, alpha=0.55, color=colour, label=f"{label}: {len(found)}/{len(values)}")
        ax.set_title(f"α {result.edit.describe(alpha)}\nHI {hi:.2f}", fontsize=9)
        ax.set_xlabel(LABELS[result.attribute], fontsize=8)
        ax.legend(fontsize=5.5, loc="upper left")
    axes[0].set_ylabel("faces found")
    fig.suptitle(f"{result.edit.name}: {LABELS[result.attribute]} of walked vs edited faces, "
                 f"{result.walked.shape[1]} latents", fontsize=10, y=1.08)
    return save_figure(fig, path)
