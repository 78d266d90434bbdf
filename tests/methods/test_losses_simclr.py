import math

import torch

from methods.simclr import nt_xent_loss


def test_nt_xent_hand_computed():
    # Two samples, identical views, orthogonal: each row sees its positive at cos 1 and two
    # negatives at cos 0, so with T = 1 the loss is -log(e / (e + 2)) for every row.
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    expected = -math.log(math.e / (math.e + 2))
    assert math.isclose(float(nt_xent_loss(z, z.clone(), 1.0)), expected, rel_tol=1e-6)


def test_nt_xent_temperature_and_scale_invariance():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    # Embeddings are L2-normalised inside: scaling them changes nothing.
    assert torch.allclose(nt_xent_loss(z1, z2, 0.5), nt_xent_loss(3 * z1, 0.1 * z2, 0.5), atol=1e-6)
    # Swapping the views is symmetric.
    assert torch.allclose(nt_xent_loss(z1, z2, 0.5), nt_xent_loss(z2, z1, 0.5), atol=1e-6)


def test_nt_xent_lower_when_views_agree():
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(16, 8, generator=g)
    aligned = nt_xent_loss(z1, z1 + 0.01 * torch.randn(16, 8, generator=g), 0.2)
    random = nt_xent_loss(z1, torch.randn(16, 8, generator=g), 0.2)
    assert aligned < random
    # Gradients flow to both views.
    a = z1.clone().requires_grad_()
    b = torch.randn(16, 8, generator=g, requires_grad=True)
    nt_xent_loss(a, b, 0.2).backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0
