"""`steer explore`: the options, the checks made before anything loads, and the server."""

from __future__ import annotations

import errno
import ipaddress
import socket
from pathlib import Path

from steer.errors import SteerError
from steer.explore.session import Explorer, State
from steer.generators.base import Generator
from steer.restore import load_generator

LOOPBACK = "127.0.0.1"


def explore(
    generator: Generator | None = None,
    checkpoint: str | None = None,
    walks: list[str] | None = None,
    directions: list[str] | None = None,
    seed: int = 0,
    class_index: int | None = None,
    truncation: float | None = None,
    source: str | None = None,
    alpha: list[float] | None = None,
    out: str = "explore",
    host: str = LOOPBACK,
    port: int = 7860,
    expose: bool = False,
) -> None:
    """A live page of sliders for a generator and the walks and directions that steer it (Ctrl+C stops it).

    Opens http://HOST:PORT: the latent by seed, the class, truncation, one
    slider per walk slider or direction, the walked image, the edit target and
    their masked L2, the path across α; exports as GIF, MP4 and JSON (this
    command's config: steer explore --config FILE reopens the page there).

    Args:
        generator: the generator to explore; default: the pretrained DigiFace DCGAN.
        checkpoint: a .ckpt written by `steer fit` whose generator to explore (instead of --generator).
        walks: walk checkpoints (.ckpt of `steer fit`) trained on this generator; more can be added on the page.
        directions: direction files (`steer discover sefa|pca`) found on this generator; α in σ.
        seed: the seed of the latent shown first.
        class_index: the class shown first (conditional generators); default: drawn with the seed.
        truncation: the truncation shown first (generators built with one).
        source: the walk checkpoint or direction file the sliders steer first (loaded if not among the others).
        alpha: its α, one per slider, in the edit's units (σ for a direction file); default: the identity.
        out: the folder the export buttons write into.
        host: the address to serve on; only loopback (127.0.0.1, localhost) unless --expose true.
        port: the port to serve on.
        expose: serve on a --host other than loopback, which EXPOSES THE PAGE to every machine that reaches
            it (no password; it can load any file steer can read).
    """
    check_host(host, expose)
    check_port(host, port)
    explorer = Explorer(load_generator(checkpoint, generator))
    for path in [*(walks or []), *(directions or [])]:
        explorer.add(path)
    state = explorer.start(State(seed, class_index, truncation, source), alpha)
    options = {"generator": generator, "checkpoint": checkpoint, "walks": walks or [], "directions": directions or []}
    from steer.explore.page import serve  # gradio is an optional extra: imported when a page is served

    serve(explorer, state, options, Path(out), host, port)


def check_host(host: str, expose: bool) -> None:
    """Loopback hosts are always fine; any other only with ``expose``."""
    if expose or host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SteerError(f"--host {host} would expose the page to other machines (no password; it loads any file "
                         f"steer can read); pass --expose true to serve it there anyway, or keep --host {LOOPBACK}.")


def check_port(host: str, port: int) -> None:
    """One line naming the port if something already listens on it."""
    if not 0 < port < 65536:
        raise SteerError(f"--port must be in 1 … 65535, got {port}.")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise SteerError(f"port {port} on {host} is in use; choose another with --port.") from None
            raise SteerError(f"cannot serve on {host}:{port}: {e.strerror or e}.") from None
