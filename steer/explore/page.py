"""The explorer's page (gradio): controls on the left, the walked image, edit target and path on the right."""

from __future__ import annotations

import random
import threading
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image
from torch import Tensor

from steer import media
from steer.errors import SteerError
from steer.explore import exports
from steer.explore.session import Explorer, State, View
from steer.explore.sources import MAX_SLIDERS, Source

#: Shown size of the images (they keep their pixels: no smoothing).
SHOWN = 256
CSS = ("#walked img, #target img, #strip img {width: 100% !important; height: 100% !important; object-fit: contain;"
       " image-rendering: pixelated;}")
#: The images' buttons (gradio's "share" one posts to the Hugging Face hub).
BUTTONS = ["download", "fullscreen"]
#: System fonts: the default theme would fetch its web fonts from the internet.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def serve(explorer: Explorer, start: State, options: dict, out: Path, host: str, port: int) -> None:
    """Serve the page on ``host``:``port`` until Ctrl+C."""
    demo = page(explorer, start, options, out)
    print(f"steer explore: http://{host}:{port} (Ctrl+C stops it)", flush=True)
    demo.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, share=False, inbrowser=False, quiet=True, show_error=True,
        ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False, footer_links=[], theme=THEME, css=CSS)


def picture(image: Tensor) -> Image.Image:
    """(C, H, W) in [-1, 1] → a PIL image at its own resolution (PNG on the page: lossless)."""
    return media.pil(image)


def pictures(view: View, strip: bool = True) -> tuple[Image.Image, Image.Image | None, str, Image.Image | None]:
    """What the page shows of a view: the walked image, the edit target (or None), the caption, the strip (None
    unless ``strip``: the page keeps the one it shows when it has not changed)."""
    target = picture(view.target) if view.target is not None else None
    return picture(view.walked), target, view.caption, picture(media.grid([view.strip])) if strip else None


def slider(source: Source | None, index: int, values: tuple[float, ...] = ()) -> gr.Slider:
    """Slider ``index`` of ``source`` (at ``values[index]``, default the identity), or a hidden one."""
    if source is None or index >= len(source.sliders):
        return gr.Slider(visible=False)
    s = source.sliders[index]
    unit = " (log₂ α)" if s.log2 else " (σ)" if source.edit is None else ""
    return gr.Slider(s.low, s.high, value=values[index] if values else s.identity, step=s.step,
                     label=f"{s.name}{unit}", visible=True, elem_id=f"slider-{index}", interactive=True)


def page(explorer: Explorer, start: State, options: dict, out: Path) -> gr.Blocks:
    """The page of ``explorer``, opened at ``start``; exports go to ``out``."""
    g = explorer.generator
    classes = g.num_classes
    first_class = start.class_index if start.class_index is not None else _drawn_class(explorer, start)
    trunc_value = start.truncation if start.truncation is not None else g.truncation
    current = explorer.sources.get(start.source) if start.source else None
    written: list[str] = []
    strips: list[Tensor | None] = [None]  # the strip on the page (one page at a time: a local tool)
    lock = threading.Lock()  # slider events skip gradio's queue: one view at a time through the caches

    with gr.Blocks(title="steer explore") as demo:
        gr.Markdown(f"### steer explore · {type(g).__name__}: {g.latent_dim}-d latent, {g.resolution} px"
                    + (f", {classes} classes" if classes else ""))
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                with gr.Row():
                    seed = gr.Number(start.seed, label="seed (the latent)", precision=0, elem_id="seed")
                    new = gr.Button("new sample", elem_id="new-sample")
                klass = gr.Number(first_class, label=f"class (0 … {(classes or 1) - 1})", precision=0, minimum=0,
                                  maximum=(classes or 1) - 1, visible=classes is not None, elem_id="class")
                trunc = gr.Slider(0.05, max(1.0, 2 * (trunc_value or 0)), value=trunc_value, step=0.01,
                                  label="truncation", visible=trunc_value is not None, elem_id="truncation")
                source = gr.Dropdown(list(explorer.sources), value=start.source, label="steer with",
                                     elem_id="source", interactive=True)
                sliders = [slider(current, i, start.values) for i in range(MAX_SLIDERS)]
                with gr.Accordion("add a walk checkpoint or direction file", open=False):
                    path = gr.Textbox(label="path on this machine", elem_id="add-path")
                    add = gr.Button("add", elem_id="add")
                    upload = gr.File(label="or upload one", file_types=[".ckpt", ".pt"], elem_id="upload")
            with gr.Column(scale=2):
                with gr.Row():
                    walked = gr.Image(label="walked: G(walk(z, α))", format="png", height=SHOWN, interactive=False,
                                      buttons=BUTTONS, elem_id="walked")
                    target = gr.Image(label="edit target: edit(G(z), α)", format="png", height=SHOWN,
                                      interactive=False, visible=current is not None and current.edit is not None,
                                      buttons=BUTTONS, elem_id="target")
                caption = gr.Markdown(elem_id="caption")
                strip = gr.Image(label="the path across α (the slider moved last)", format="png", height=SHOWN // 2,
                                 interactive=False, buttons=BUTTONS, elem_id="strip")
                with gr.Row():
                    gif = gr.Button("export GIF", elem_id="export-gif")
                    mp4 = gr.Button("export MP4", elem_id="export-mp4")
                    json = gr.Button("export JSON", elem_id="export-json")
                files = gr.File(label=f"exported (into {out})", file_count="multiple", interactive=False,
                                elem_id="exports")
                status = gr.Markdown(elem_id="status")
        moved = gr.State(start.moved)

        inputs = [seed, klass, trunc, source, moved, *sliders]
        shown = [walked, target, caption, strip, status]

        def state_of(seed_: Any, class_: Any, trunc_: Any, source_: str | None, moved_: int, *values: float) -> State:
            count = len(explorer.sources[source_].sliders) if source_ in explorer.sources else 0
            return State(int(seed_), int(class_) if classes is not None else None,
                         float(trunc_) if trunc_value is not None else None, source_, tuple(values[:count]), moved_)

        def render(*args: Any, fresh: bool = False) -> tuple:
            try:
                with lock:
                    view = explorer.view(state_of(*args))
            except (SteerError, TypeError, ValueError) as e:  # TypeError/ValueError: a box being typed into
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), _error(e)
            new_strip = fresh or view.strip is not strips[-1]
            walked_, target_, caption_, strip_ = pictures(view, new_strip)
            strips[-1] = view.strip
            return (walked_, gr.Image(target_, visible=target_ is not None), caption_,
                    strip_ if new_strip else gr.skip(), "")

        def slide(index: int, *args: Any) -> tuple:
            args = (*args[:4], index, *args[5:])
            return index, *render(*args)

        def choose(name: str | None) -> list:
            chosen = explorer.sources.get(name)
            return [0, *[slider(chosen, i) for i in range(MAX_SLIDERS)]]

        def add_file(file: str | None) -> tuple:
            if not file:
                return gr.skip(), ""
            try:
                explorer.add(str(file))
            except SteerError as e:
                return gr.skip(), _error(e)
            return gr.Dropdown(list(explorer.sources), value=str(file)), f"added {file}"

        def export(kind: str, *args: Any) -> tuple:
            state = state_of(*args)
            try:
                if kind == "json":
                    config = exports.state_config(options, explorer, state)
                    target_path = exports.save_state(out / exports.export_name(state, ".json"), config)
                elif state.source is None:
                    raise SteerError("nothing to export: add a walk checkpoint or direction file to steer with.")
                else:
                    save = exports.save_path_gif if kind == "gif" else exports.save_path_mp4
                    target_path = save(explorer.strip(state), out / exports.export_name(state, f".{kind}"))
            except SteerError as e:
                return gr.skip(), _error(e)
            written.append(str(target_path))
            print(f"wrote: {target_path}", flush=True)
            return list(written), f"wrote {target_path}"

        events = dict(show_progress="hidden", trigger_mode="always_last", queue=False)  # no queue: a direct request
        demo.load(partial(render, fresh=True), inputs, shown)
        seed.change(render, inputs, shown, **events)
        klass.change(render, inputs, shown, **events)
        trunc.input(render, inputs, shown, **events)
        new.click(lambda: random.randrange(2**31), None, seed)
        for i, s in enumerate(sliders):
            s.input(partial(slide, i), inputs, [moved, *shown], **events)
        source.change(choose, source, [moved, *sliders]).then(render, inputs, shown)
        add.click(add_file, path, [source, status])
        upload.upload(add_file, upload, [source, status])
        for kind, button in (("gif", gif), ("mp4", mp4), ("json", json)):
            button.click(partial(export, kind), inputs, [files, status])
    return demo


def _drawn_class(explorer: Explorer, start: State) -> int | None:
    """The class the seed draws (conditional generators), as ``steer.load(…).images(n=1, seed=…)`` does."""
    _, y, _ = explorer.latent(start)
    return None if y is None else int(y[0])


def _error(e: Exception) -> str:
    """A refused request, on the page and on stdout."""
    line = f"error: {e}"
    print(line, flush=True)
    return f"**{line}**"
