"""What the page's export buttons write: the path as GIF and MP4, the page state as a `steer explore` config."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import imageio.v2 as imageio
from torch import Tensor

from steer import media
from steer.checkpoint import atomic_write
from steer.explore.session import Explorer, State

#: Frames per second of the MP4 (the GIF's 120 ms per frame).
FPS = 8


def save_path_gif(strip: Tensor, path: Path) -> Path:
    """The strip (A, C, H, W) as an animated GIF, forward and back."""
    return media.save_gif(list(strip), path)


def save_path_mp4(strip: Tensor, path: Path) -> Path:
    """The strip (A, C, H, W) as an H.264 MP4 (the ffmpeg that ships in the imageio-ffmpeg wheel), forward and back."""
    frames = [media.to_uint8(f).permute(1, 2, 0).numpy() for f in strip]
    with tempfile.TemporaryDirectory() as folder:  # ffmpeg writes to a named file
        encoded = Path(folder) / "path.mp4"
        with imageio.get_writer(encoded, format="FFMPEG", fps=FPS, codec="libx264", macro_block_size=1,
                                pixelformat="yuv420p", ffmpeg_log_level="error") as writer:
            for frame in frames + frames[-2:0:-1]:
                writer.append_data(frame)
        data = encoded.read_bytes()
    return atomic_write(path, lambda f: f.write(data))


def state_config(options: dict, explorer: Explorer, state: State) -> dict:
    """The options of `steer explore` (``options``: generator, checkpoint, walks, directions) with the page's
    seed, class, truncation, source and α: ``steer explore --config FILE`` reopens the page there."""
    alpha = explorer.alpha(state).tolist() if state.source is not None else None
    return {**options, "seed": state.seed, "class_index": state.class_index, "truncation": state.truncation,
            "source": state.source, "alpha": alpha}


def save_state(path: Path, config: dict) -> Path:
    """``config`` as JSON (a config file of `steer explore`)."""
    return atomic_write(path, lambda f: f.write((json.dumps(config, indent=2) + "\n").encode()))


def export_name(state: State, suffix: str) -> str:
    """A file name for an export of ``state``: the source's stem and the seed."""
    stem = Path(state.source).stem if state.source else "generator"
    return f"{stem}-seed{state.seed}{suffix}"
