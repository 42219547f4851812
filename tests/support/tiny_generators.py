"""Tiny random BigGAN and StyleGAN2 models (a few thousand parameters) saved in their real on-disk formats.

BigGAN: a folder with ``config.json`` and ``pytorch_model.bin``, as the
released weights of pytorch-pretrained-biggan. StyleGAN2: steer's own
network, randomly initialised from a seed, saved as rosinality
stylegan2-pytorch checkpoints are (the same parameter names and shapes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from pytorch_pretrained_biggan import BigGAN as PackageBigGAN
from pytorch_pretrained_biggan import BigGANConfig
from torch import Tensor

from steer.generators.stylegan2 import StyleGAN2Network

# BigGAN: 16 px, 10 classes, z_dim 8: four blocks halving 16·4 channels down to 4, two of them up-sampling.
BIGGAN = dict(
    output_dim=16,
    z_dim=8,
    class_embed_dim=8,
    channel_width=4,
    num_classes=10,
    layers=[[False, 16, 8], [True, 8, 4], [False, 4, 2], [True, 2, 1]],
    attention_layer_position=2,
)

# StyleGAN2: 16 px (6 W+ rows), style_dim 8, 2 mapping layers, a shrunk channel table.
STYLEGAN2 = dict(size=16, style_dim=8, n_mlp=2, channels={4: 8, 8: 8, 16: 4})


def save_biggan(folder: Path, **overrides) -> PackageBigGAN:
    """A random tiny BigGAN written like the released weights; returns the model (eval mode)."""
    config = BigGANConfig.from_dict({**BIGGAN, **overrides})
    torch.manual_seed(0)
    model = PackageBigGAN(config)
    with torch.no_grad():
        model.generator.bn.weight.fill_(1.0)  # the package leaves these two uninitialised (torch.Tensor(n))
        model.generator.bn.bias.zero_()
        for name, buffer in model.named_buffers():
            if name.endswith("running_means"):  # per-truncation statistics that differ, as in the release
                buffer.normal_(0, 0.1)
        model(
            torch.randn(4, config.z_dim), F.one_hot(torch.arange(4), config.num_classes).float(), 1.0
        )  # power iteration
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config.to_json_string())
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return model.eval()


def stylegan2_network(seed: int = 0) -> StyleGAN2Network:
    """steer's StyleGAN2 network at the tiny size, random from ``seed``.

    Noise strengths (zero at init) are set to 0.2 and the conv and ToRGB biases
    drawn from N(0, 0.1²), so every parameter matters; ToRGB weights are scaled
    by 0.15 so that most pixels lie inside [-1, 1].
    """
    s = STYLEGAN2
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = StyleGAN2Network(s["size"], s["style_dim"], s["n_mlp"], s["channels"])
        with torch.no_grad():
            for name, p in net.named_parameters():
                if name.endswith("noise.weight"):
                    p.fill_(0.2)
                elif name.endswith("activate.bias") or (name.startswith("to_rgb") and name.endswith(".bias")
                                                        and "modulation" not in name):
                    p.normal_(0, 0.1)
                elif name.startswith("to_rgb") and name.endswith("conv.weight"):
                    p.mul_(0.15)
    return net.eval()


def save_stylegan2(path: Path, latent_avg: bool = True, seed: int = 0) -> tuple[dict[str, Tensor], Tensor | None]:
    """Write a tiny StyleGAN2 checkpoint in rosinality's format; returns (g_ema state dict, latent_avg or None).

    ``latent_avg=True``: the convert_weight.py format, ``{"g_ema", "latent_avg"}``
    (w̄ from 64 seeded z). ``False``: the train.py format, which has no
    latent_avg but the training ``args`` (an argparse.Namespace) and
    ``ada_aug_p`` (discriminator and optimiser states left out).
    """
    net = stylegan2_network(seed)
    state = net.state_dict()
    if latent_avg:
        with torch.no_grad():
            avg = net.style(torch.randn(64, STYLEGAN2["style_dim"], generator=torch.Generator().manual_seed(1))).mean(0)
        torch.save({"g_ema": state, "latent_avg": avg}, path)
        return state, avg
    args = argparse.Namespace(size=STYLEGAN2["size"], latent=STYLEGAN2["style_dim"], n_mlp=STYLEGAN2["n_mlp"],
                              channel_multiplier=2)
    torch.save({"g": state, "g_ema": state, "args": args, "ada_aug_p": 0.0}, path)
    return state, None
