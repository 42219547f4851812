"""`steer explore`: a live page of sliders for a generator, its walks and its directions (entry-point layer).

``session``: the explorer without its page (state → images, cached); ``sources``: walk checkpoints and
direction files checked against the generator; ``exports``: GIF, MP4 and the JSON config; ``page``: the
gradio page (the optional extra ``steer-latent[explore]``); ``command``: the command and its checks.

Nothing here calls the network: gradio's analytics, version check and telemetry are off before it is imported.
"""

import os

#: gradio's and huggingface_hub's switches for every call home.
OFFLINE = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "DO_NOT_TRACK": "1"}
os.environ.update(OFFLINE)

from steer.explore.command import explore  # noqa: E402

__all__ = ["OFFLINE", "explore"]
