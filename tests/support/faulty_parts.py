"""Parts that misbehave on purpose, for the bad-input tests."""


from steer.edits import Zoom


class RankOneNaNEdit(Zoom):
    """A zoom whose targets are NaN on global rank 1 only: under DDP one rank's loss becomes NaN."""

    def apply(self, images, alpha):
        import torch.distributed as dist

        edited, mask = super().apply(images, alpha)
        return (edited * float("nan") if dist.is_initialized() and dist.get_rank() == 1 else edited), mask


class NaNEdit(Zoom):
    """A zoom whose targets are NaN: the training loss becomes NaN at the first step."""

    def apply(self, images, alpha):
        edited, mask = super().apply(images, alpha)
        return edited * float("nan"), mask
