"""SeFa (docs/methods.md §4): top eigenvectors of AᵀA, A = the generator's first projection with unit rows."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from steer.discovery import sefa
from steer.errors import SteerError
from steer.generators import DCGAN, Generator


class Projection(Generator):
    """A generator that is nothing but a given first projection A (out × d)."""

    def __init__(self, a: Tensor | None) -> None:
        super().__init__(latent_dim=a.shape[1] if a is not None else 3, resolution=4)
        self.a = a

    def synthesize(self, z: Tensor, y: Tensor | None) -> Tensor:
        return torch.zeros(len(z), 3, 4, 4)

    def first_projection(self) -> Tensor:
        return self.a if self.a is not None else super().first_projection()


def test_dominant_direction_of_a_dcgan_first_layer_comes_first():
    torch.manual_seed(0)
    g = DCGAN(latent_dim=8, resolution=8, width=4)
    u = torch.nn.functional.normalize(torch.randn(8), dim=0)
    weight = g.main[0].weight  # (d, C, k, k): A = its (C·k·k) × d reshape
    with torch.no_grad():
        weight.copy_(u[:, None, None, None] * torch.randn(weight.shape[1:]) + 0.01 * torch.randn_like(weight))
    directions, values = sefa(g, 2)
    assert directions.shape == (2, 8) and values.shape == (2,)
    assert abs(float(directions[0] @ u)) > 0.99
    assert values[0] > 10 * values[1]


def test_directions_are_orthonormal_sorted_and_their_eigenvalues_are_the_unit_row_energies():
    g = DCGAN(latent_dim=6, resolution=8, width=3)
    directions, values = sefa(g, 6)
    torch.testing.assert_close(directions @ directions.T, torch.eye(6), atol=1e-5, rtol=0)
    assert torch.all(values[:-1] >= values[1:])
    a = g.first_projection()
    unit = a / a.norm(dim=1, keepdim=True)
    torch.testing.assert_close(values, (unit @ directions.T).square().sum(0), atol=1e-4, rtol=1e-5)  # ‖Â n‖²
    torch.testing.assert_close(values.sum(), torch.tensor(float(len(a))), atol=1e-3, rtol=0)  # trace = rows


def test_rows_are_scaled_to_unit_norm_so_their_lengths_do_not_matter():
    basis = torch.eye(3)
    rows = torch.cat([basis[[0]].repeat(5, 1), basis[[1]].repeat(3, 1), -basis[[2]]])  # 5×e1, 3×e2, 1×(−e3)
    lengths = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 40.0, 50.0, 60.0, 1000.0])[:, None]
    directions, values = sefa(Projection(rows * lengths), 3)
    torch.testing.assert_close(directions, basis)  # the sign makes the largest coordinate positive
    torch.testing.assert_close(values, torch.tensor([5.0, 3.0, 1.0]))


def test_top_k_are_the_leading_rows_of_the_full_decomposition():
    g = DCGAN(latent_dim=5, resolution=8, width=2)
    top, top_values = sefa(g, 2)
    full, full_values = sefa(g, 5)
    torch.testing.assert_close(top, full[:2])
    torch.testing.assert_close(top_values, full_values[:2])


def test_a_generator_without_first_projection_gets_a_clear_error():
    with pytest.raises(SteerError, match="does not expose its first projection.*PCA or trajectories"):
        sefa(Projection(None), 1)


@pytest.mark.parametrize("k", [0, 4])
def test_k_must_lie_between_one_and_the_latent_size(k):
    with pytest.raises(SteerError, match=f"1 to latent_dim=3 directions; asked for k={k}"):
        sefa(Projection(torch.eye(3)), k)


def test_a_projection_of_the_wrong_shape_is_named():
    class Transposed(Projection):
        def first_projection(self) -> Tensor:
            return self.a.T

    with pytest.raises(SteerError, match=r"returned shape \(5, 3\); SeFa needs \(outputs, latent_dim=5\)"):
        sefa(Transposed(torch.ones(3, 5)), 1)
