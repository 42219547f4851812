"""`steer explore` in a real headless Chromium: sliders, classes and exports on a tiny conditional BigGAN.

The server runs as a user starts it (a subprocess of `steer explore`) with an
audit hook that records every outbound network call; the page is driven by
playwright through Debian's chromium. The screenshot is kept in the test's tmp
folder (``explore.png``).
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import torch
from PIL import Image
from playwright.sync_api import sync_playwright

import steer
from steer import media
from steer.cli import SteerCLI
from steer.formats.directions import Directions, save_directions
from tests.support.scripts import ROOT, script_env
from tests.support.tiny_generators import save_biggan

pytestmark = pytest.mark.slow

SEED = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny conditional BigGAN (10 classes, 16 px), a zoom walk trained on it, and a direction file found on it."""
    root = tmp_path_factory.mktemp("explore")
    save_biggan(root / "biggan")
    generator = json.dumps({"class_path": "steer.generators.BigGAN", "init_args": {"weights_dir": str(root / "biggan")}})
    SteerCLI(args=["fit", "--config", str(ROOT / "tests/configs/tiny_walk.yaml"), "--trainer.logger", "false",
                   "--checkpoint.dirpath", str(root / "walk"), "--model.init_args.generator", generator])
    walk = root / "walk" / "last.ckpt"
    directions = torch.nn.functional.normalize(torch.randn(2, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    save_directions(root / "directions.pt", Directions(directions, torch.tensor([2.0, 1.0]), "random",
                                                       {"checkpoint": str(walk)}))
    return {"root": root, "walk": walk, "directions": root / "directions.pt", "out": root / "exports"}


@pytest.fixture(scope="module")
def server(files: dict[str, Path]) -> Iterator[dict]:
    """`steer explore` on the walk's generator with the walk and the direction file, outbound calls recorded."""
    port, log, outbound = free_port(), files["root"] / "server.log", files["root"] / "outbound.txt"
    command = [sys.executable, "-m", "tests.support.offline_steer", "explore", "--checkpoint", str(files["walk"]),
               "--walks", json.dumps([str(files["walk"])]), "--directions", json.dumps([str(files["directions"])]),
               "--seed", str(SEED), "--out", str(files["out"]), "--port", str(port)]
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=script_env(STEER_OUTBOUND_LOG=str(outbound)), stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while not _listening(port):
            assert process.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        yield {"url": f"http://127.0.0.1:{port}/", "outbound": outbound, "log": log}
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def page(server: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The page in headless Chromium; every host the browser asks for is kept in ``page.hosts``."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: `make` installs it (apt-get install -y chromium); the browser test "
                    "needs a real Chromium and is never skipped.")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"], headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.hosts = []
        page.on("request", lambda request: page.hosts.append(urlparse(request.url).hostname))
        page.goto(server["url"])
        page.locator("#walked img").wait_for(timeout=60_000)
        yield page
        browser.close()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def shown(page, element: str = "walked") -> tuple[str, np.ndarray]:
    """The src and pixels (H, W, 3) of the image shown in ``#element``."""
    src = page.locator(f"#{element} img").get_attribute("src")
    body = page.request.get(src).body()
    return src, np.asarray(Image.open(io.BytesIO(body)).convert("RGB")).astype(int)


def changed(page, before: str, element: str = "walked") -> tuple[str, np.ndarray]:
    """Wait until ``#element`` shows another image than ``before``; its src and pixels."""
    deadline = time.time() + 30
    while page.locator(f"#{element} img").get_attribute("src") == before:
        assert time.time() < deadline, f"#{element} did not change"
        page.wait_for_timeout(100)
    return shown(page, element)


def expected(path: Path, alpha: float, klass: int) -> np.ndarray:
    """steer.load's image for the page's latent (seed), class and α, as the page's pixels (H, W, 3)."""
    image = steer.load(path).images(n=1, seed=SEED, classes=klass, alphas=[alpha])[0, 0]
    return media.to_uint8(image).permute(1, 2, 0).numpy().astype(int)


def test_moving_a_slider_shows_steer_loads_image_for_that_alpha(page, files: dict[str, Path]) -> None:
    src, before = shown(page)
    klass = int(page.locator("#class input").input_value())
    assert np.abs(before - expected(files["walk"], 1.0, klass)).max() <= 1  # the page opens at the identity
    page.locator("#slider-0 input[type='range']").fill("1.2")  # log₂ of the zoom factor
    _, after = changed(page, src)
    assert np.abs(after - before).mean() > 2, "the image did not change visibly"
    assert np.abs(after - expected(files["walk"], 2 ** 1.2, klass)).max() <= 1
    target = shown(page, "target")[1]
    assert target.shape == after.shape and "masked L2" in page.locator("#caption").inner_text()


def test_switching_the_class_shows_that_classs_image(page, files: dict[str, Path]) -> None:
    src, before = shown(page)
    klass = (int(page.locator("#class input").input_value()) + 1) % 10
    page.locator("#class input").fill(str(klass))
    page.locator("#class input").press("Enter")
    _, after = changed(page, src)
    alpha = 2 ** float(page.locator("#slider-0 input[type='number']").input_value())
    assert np.abs(after - before).mean() > 1
    assert np.abs(after - expected(files["walk"], alpha, klass)).max() <= 1


def test_exports_write_the_path_and_a_config_that_reopens_the_page(page, files: dict[str, Path]) -> None:
    for button in ("gif", "mp4", "json"):
        page.locator(f"#export-{button}").click()
        page.locator("#status").get_by_text(f".{button}").wait_for(timeout=30_000)
    gif = Image.open(next(files["out"].glob("*.gif")))
    assert gif.n_frames == 2 * 9 - 2 and gif.size == (16, 16)
    assert next(files["out"].glob("*.mp4")).stat().st_size > 0
    state = json.loads(next(files["out"].glob("*.json")).read_text())
    klass = int(page.locator("#class input").input_value())
    assert state["seed"] == SEED and state["class_index"] == klass and state["source"] == str(files["walk"])
    assert state["alpha"][0] == pytest.approx(2 ** 1.2, rel=1e-5)
    # the JSON is a `steer explore` config: it parses back to the same options
    from steer.cli.driver import build_parser
    parsed = build_parser().parse_args(["explore", "--config", str(next(files["out"].glob("*.json")))]).explore
    assert (parsed.seed, parsed.class_index, parsed.source, parsed.alpha) == (SEED, klass, state["source"],
                                                                              state["alpha"])
    _, now = shown(page)
    assert np.abs(now - expected(files["walk"], state["alpha"][0], klass)).max() <= 1
    page.screenshot(path=str(files["root"] / "explore.png"), full_page=True)
    assert (files["root"] / "explore.png").stat().st_size > 0


def test_a_file_added_on_the_page_that_does_not_fit_says_why_there_and_on_stdout(page, server: dict,
                                                                               files: dict[str, Path]) -> None:
    wrong = files["root"] / "wrong.pt"
    save_directions(wrong, Directions(torch.eye(2, 5), torch.ones(2), "random", {"class_path": "steer.generators.DCGAN"}))
    page.get_by_text("add a walk checkpoint or direction file").click()
    page.locator("#add-path input, #add-path textarea").first.fill(str(wrong))
    page.locator("#add").click()
    line = f"error: {wrong} holds directions in a 5-d latent, but the generator's latent size is 8"
    page.locator("#status").get_by_text(line).wait_for(timeout=30_000)
    assert line in server["log"].read_text()
    page.locator("#add-path input, #add-path textarea").first.fill(str(files["directions"]))
    page.locator("#add").click()
    page.locator("#status").get_by_text("added").wait_for(timeout=30_000)


def test_neither_the_server_nor_the_page_calls_the_network(page, server: dict) -> None:
    page.reload()
    page.locator("#walked img").wait_for(timeout=60_000)
    assert set(page.hosts) == {"127.0.0.1"}, page.hosts
    assert server["outbound"].read_text() == "", server["outbound"].read_text()
