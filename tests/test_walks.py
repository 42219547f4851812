import pytest
import torch

from steer.errors import SteerError
from steer.walks import ClassLinearWalk, LinearWalk, NNWalk


def test_linear_walk_adds_alpha_times_direction_per_slider():
    walk = LinearWalk(4, sliders=2)
    z, alpha = torch.randn(3, 4), torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.5, -1.0]])
    expected = z + alpha[:, :1] * walk.w[0] + alpha[:, 1:] * walk.w[1]
    assert torch.allclose(walk(z, alpha), expected)
    assert walk.w.std().item() == pytest.approx(0.1, rel=0.5)


def test_class_walk_moves_each_latent_along_its_own_class_direction():
    walk = ClassLinearWalk(4, sliders=1, num_classes=3)
    z, y = torch.zeros(3, 4), torch.tensor([2, 0, 2])
    moved = walk(z, torch.ones(3, 1), y)
    assert torch.allclose(moved[0], walk.w[2, 0]) and torch.allclose(moved[1], walk.w[0, 0])


def test_nn_walk_keeps_the_starting_norm_and_is_identity_at_zero():
    walk = NNWalk(8, step_size=0.25, hidden=16)
    z = torch.randn(5, 8)
    alpha = torch.tensor([[0.0], [0.1], [-0.6], [1.0], [3.0]])
    moved = walk(z, alpha)
    assert torch.allclose(moved.norm(dim=1), z.norm(dim=1), atol=1e-5)
    assert torch.allclose(moved[0], z[0], atol=1e-6)


def test_nn_walk_takes_n_steps_for_alpha_n_epsilon_and_extrapolates_beyond_training():
    walk = NNWalk(8, step_size=0.5, hidden=16)
    torch.nn.init.normal_(walk.forward_step[2].weight, std=0.5)
    z = torch.randn(1, 8)
    two_steps = walk(walk(z, torch.tensor([[0.5]])), torch.tensor([[0.5]]))
    assert torch.allclose(walk(z, torch.tensor([[1.0]])), two_steps, atol=1e-5)
    far = walk(z, torch.tensor([[10.0]]))  # 20 steps, far beyond the 4–5 unrolled in training
    assert torch.isfinite(far).all() and not torch.allclose(far, z)


def test_nn_walk_uses_separate_nets_for_each_direction():
    walk = NNWalk(8, step_size=0.5, hidden=16)
    torch.nn.init.normal_(walk.backward_step[2].weight, std=0.5)
    z = torch.randn(2, 8)
    moved = walk(z, torch.tensor([[0.5], [-0.5]]))
    assert torch.allclose(moved[0], z[0], atol=1e-2) and not torch.allclose(moved[1], z[1], atol=1e-2)


@pytest.mark.parametrize("make, message", [
    (lambda: ClassLinearWalk(4, 1, None), "unconditional"),
    (lambda: NNWalk(4, sliders=3), "one slider"),
    (lambda: LinearWalk(4)(torch.zeros(2, 5), torch.zeros(2, 1)), r"\(N, 4\)"),
    (lambda: LinearWalk(4)(torch.zeros(2, 4), torch.zeros(2, 3)), r"shape \(2, 1\)"),
    (lambda: ClassLinearWalk(4, 1, 3)(torch.zeros(2, 4), torch.zeros(2, 1)), "class labels"),
])
def test_bad_walk_use_is_refused_with_a_clear_message(make, message):
    with pytest.raises(SteerError, match=message):
        make()
