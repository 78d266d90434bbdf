"""Inference path of the embeddings cache: BatchNorm folded into the preceding layer."""

import pytest
import torch
from torch import nn

from benchmark.core.specs import InputSpec, TaskSpec
from benchmark.evaluation.embeddings import inference_copy
from benchmark.models.encoders import ConvEncoder, MLPEncoder
from methods.simclr import SimCLR


@pytest.mark.parametrize(
    "encoder,shape",
    [
        (lambda: ConvEncoder(1, 1), (6, 1, 96)),
        (lambda: ConvEncoder(2, 1), (6, 1, 28, 28)),
        (lambda: ConvEncoder(3, 1), (6, 1, 16, 16, 16)),
        (lambda: MLPEncoder(20), (6, 20)),
    ],
)
def test_folded_batchnorm_gives_the_same_features(encoder, shape):
    torch.manual_seed(0)
    m = SimCLR(encoder(), InputSpec("image2d", (1, 28, 28)), TaskSpec(3))
    m.train()
    with torch.no_grad():  # non-trivial running statistics and affine parameters
        for _ in range(3):
            m.encoder(torch.randn(shape) * 3 + 1)
        for mod in m.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.weight.uniform_(0.5, 2.0)
                mod.bias.uniform_(-1, 1)
    m.eval()
    x = torch.randn(shape)
    folded = inference_copy(m)
    n_bn = sum(isinstance(mod, nn.modules.batchnorm._BatchNorm) for mod in m.encoder.modules())
    assert n_bn > 0
    assert not any(isinstance(mod, nn.modules.batchnorm._BatchNorm) for mod in folded.encoder.modules())
    with torch.no_grad():
        assert torch.allclose(folded.embed(x), m.embed(x), rtol=1e-4, atol=1e-5)
    # the original is untouched (training continues on it) and still has its BatchNorm layers
    assert sum(isinstance(mod, nn.modules.batchnorm._BatchNorm) for mod in m.encoder.modules()) == n_bn
    assert inference_copy(folded) is folded  # an inference copy is not copied again


def test_folding_skips_nothing_it_cannot_fold_and_keeps_outputs():
    # A non-affine BatchNorm after a Linear (MoCo v3's projector ends like this) stays as it is.
    torch.manual_seed(0)
    m = SimCLR(MLPEncoder(8), InputSpec("tabular", (8,)), TaskSpec(2))
    m.projector = nn.Sequential(nn.Linear(128, 16), nn.BatchNorm1d(16, affine=False))
    m.train()
    with torch.no_grad():
        m.projector(m.encoder(torch.randn(32, 8)))
    m.eval()
    folded = inference_copy(m)
    x = torch.randn(5, 8)
    with torch.no_grad():
        assert torch.allclose(folded.projector(folded.encoder(x)), m.projector(m.encoder(x)), atol=1e-5)
    assert isinstance(folded.projector[1], nn.BatchNorm1d)


def test_weights_digest_names_exact_weights():
    from copy import deepcopy

    from benchmark.evaluation.embeddings import weights_digest

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    twin = deepcopy(net)
    assert weights_digest(net) == weights_digest(twin) and len(weights_digest(net)) == 16
    twin[1].running_mean[0] += 1e-6  # a buffer counts, however small the change
    assert weights_digest(twin) != weights_digest(net)
    assert weights_digest(torch.nn.Linear(4, 3, bias=False).requires_grad_(False)) != weights_digest(net)
