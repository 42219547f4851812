"""Parts that misbehave on purpose, for the bad-input tests."""


from steer.edits import Zoom


class NaNEdit(Zoom):
    """A zoom whose targets are NaN: the training loss becomes NaN at the first step."""

    def apply(self, images, alpha):
        edited, mask = super().apply(images, alpha)
        return edited * float("nan"), mask
