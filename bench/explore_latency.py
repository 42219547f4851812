"""`steer explore`: the time from a slider change to the new image, for the DigiFace DCGAN on 2 CPU threads.

    OMP_NUM_THREADS=2 .venv/bin/python bench/explore_latency.py --threads 2

Two sources steer the pretrained DigiFace DCGAN (64 px): a zoom walk
(configs/digiface/zoom_linear.yaml, trained for a few steps: the latency does
not depend on how well it zooms) and its SeFa directions. For each, ``--changes``
slider moves (random positions of one slider, the latent fixed) are timed:

* handler: what the server does per change — ``Explorer.view`` (the walked
  image; the edit target and its masked L2 for the walk; G(z) and the strip
  come from the cache) and the page's PIL images (``page.pictures``);
* browser (unless ``--no-browser``): `steer explore` in a subprocess with the
  same threads, headless Chromium (Debian's ``chromium``) moving the slider
  through playwright, from the input event to the new image's src on the page
  (gradio's queue, PNG encoding, the image request and its decoding).

Prints the median and the 95th percentile of each, in milliseconds (target ≤ 200 ms).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import add_machine_args, machine, prepare, table

from steer.cli import SteerCLI
from steer.discovery.direction_report import discover, generator_record
from steer.explore.page import pictures
from steer.explore.session import Explorer, State
from steer.formats.directions import save_directions
from steer.restore import load_generator

ROOT = Path(__file__).resolve().parents[1]


def sources(folder: Path) -> tuple[str, str]:
    """A zoom walk on the DigiFace DCGAN (a few training steps) and the DCGAN's SeFa directions."""
    SteerCLI(args=["fit", "--config", str(ROOT / "configs/digiface/zoom_linear.yaml"), "--trainer.max_steps", "2",
                   "--trainer.logger", "false", "--trainer.val_check_interval", "2", "--trainer.enable_progress_bar",
                   "false", "--checkpoint.dirpath", str(folder / "walk")])
    generator = load_generator()
    directions = folder / "directions.pt"
    save_directions(directions, discover("sefa", generator, 8, generator_record(generator, None, None)))
    return str(folder / "walk" / "last.ckpt"), str(directions)


def percentiles(ms: list[float]) -> tuple[float, float]:
    """Median and 95th percentile."""
    return statistics.median(ms), statistics.quantiles(ms, n=20)[-1]


def handler(explorer: Explorer, source: str, changes: int) -> list[float]:
    """Milliseconds per slider change of the server's handler (latent and strip cached, as on the page)."""
    state = explorer.start(State(seed=0, source=source))
    slider = explorer.sources[source].sliders[0]
    pictures(explorer.view(state))  # G(z) and the strip, made when the latent or the moved slider change
    times = []
    for _ in range(changes):
        moved = State(0, None, None, source, (random.uniform(slider.low, slider.high), *state.values[1:]), 0)
        start = time.perf_counter()
        pictures(explorer.view(moved), strip=False)
        times.append(1000 * (time.perf_counter() - start))
    return times


def browser(option: str, path: str, threads: int, changes: int, folder: Path) -> list[float]:
    """Milliseconds from a slider's input event to the new walked image on the page, on `steer explore OPTION
    [PATH]` (a server per source: the first slider steers it)."""
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-c", "from steer.cli import main; main()", "explore", option, json.dumps([path]),
               "--out", str(folder / "exports"), "--port", str(port)]
    env = {"OMP_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = chromium.new_page()
            deadline = time.time() + 180
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}/")
                    break
                except Exception:
                    assert time.time() < deadline and server.poll() is None, "steer explore did not start"
                    time.sleep(0.5)
            page.locator("#walked img").wait_for(timeout=120_000)
            times = moves(page, changes)
            chromium.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return times


def moves(page, changes: int) -> list[float]:
    """Move slider 0 to ``changes`` new positions; the time until each new image is on the page."""
    bar = page.locator("#slider-0 input[type='range']")
    low, high, step = (float(bar.get_attribute(k)) for k in ("min", "max", "step"))
    times, value = [], None
    for _ in range(changes + 1):
        before = page.locator("#walked img").get_attribute("src")
        value = random.choice([v for v in range(int((high - low) / step) + 1) if v != value])
        start = time.perf_counter()
        bar.fill(str(low + value * step))
        page.wait_for_function("src => document.querySelector('#walked img').src !== src && "
                               "document.querySelector('#walked img').complete", arg=before, polling="raf")
        times.append(1000 * (time.perf_counter() - start))
    return times[1:]  # the first move also sweeps a new strip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_machine_args(parser)
    parser.add_argument("--changes", type=int, default=60, help="slider changes per source (≥ 50)")
    parser.add_argument("--no-browser", action="store_true", help="time the server's handler only")
    args = parser.parse_args()
    device = prepare(args)
    random.seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        walk, directions = sources(folder)
        explorer = Explorer(load_generator())
        rows = []
        for name, source in (("walk", walk), ("directions", directions)):
            explorer.add(source)
            rows.append([f"handler, {name}", *(f"{v:.1f}" for v in percentiles(handler(explorer, source, args.changes)))])
        if not args.no_browser:
            for name, option, path in (("walk", "--walks", walk), ("directions", "--directions", directions)):
                ms = browser(option, path, args.threads or 2, args.changes, folder)
                rows.append([f"browser, {name}", *(f"{v:.1f}" for v in percentiles(ms))])
    print(f"{machine(device)}; {args.changes} slider changes per row")
    print(table(["slider change → new image (DigiFace DCGAN)", "median ms", "p95 ms"], rows))


if __name__ == "__main__":
    main()
