"""Encoder initialization without internet: ImageNet weights come from a state dict saved in
torchvision's cache layout; the 1-channel and 3-D adaptation rules are checked on small tensors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmark.core.errors import UsageError
from benchmark.core.specs import InputSpec
from benchmark.models.encoders import build_encoder
from benchmark.models.pretrained import adapt_stem, inflate, initialize


@pytest.fixture
def imagenet_cache(tmp_path, monkeypatch):
    """A fake ResNet-18 'ImageNet' checkpoint under the file name torchvision's weights API expects;
    torchvision loads a cached file without downloading."""
    from torchvision.models import resnet18

    torch.manual_seed(123)
    tv = resnet18(weights=None)
    for m in tv.modules():  # non-trivial BN statistics, so copying them is visible
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    ckpt = tmp_path / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.save(tv.state_dict(), ckpt / "resnet18-f37072fd.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tv.state_dict()


def test_stem_rules_resize_by_area_and_sum_rgb_for_one_channel():
    w = torch.randn(8, 3, 7, 7)
    three = adapt_stem(w, 3, 3)
    # bins of the 7 → 3 adaptive pool: rows/cols 0-2, 2-4, 4-6
    torch.testing.assert_close(three[:, :, 1, 1], w[:, :, 2:5, 2:5].mean((2, 3)) * 49 / 9)
    one = adapt_stem(w, 1, 3)
    assert one.shape == (8, 1, 3, 3)
    torch.testing.assert_close(one[:, 0], three.sum(1))  # a gray image seen as R = G = B
    four = adapt_stem(w, 4, 3)
    assert four.shape == (8, 4, 3, 3)
    torch.testing.assert_close(four.sum(1), three.sum(1))  # same response to a flat 4-channel input


def test_inflated_kernel_gives_the_2d_response_on_a_depth_constant_volume():
    w2 = torch.randn(5, 2, 3, 3)
    img = torch.randn(1, 2, 9, 9)
    vol = img.unsqueeze(2).repeat(1, 1, 7, 1, 1)  # constant over depth
    out3 = F.conv3d(vol, inflate(w2), padding=1)
    out2 = F.conv2d(img, w2, padding=1)
    torch.testing.assert_close(out3[:, :, 3], out2)  # interior depth slices see k equal slices


def test_imagenet_init_2d_copies_every_layer_and_adapts_the_stem(imagenet_cache):
    enc = build_encoder(InputSpec("image2d", (1, 28, 28)), "resnet18")
    initialize(enc, "imagenet")
    sd = enc.state_dict()
    torch.testing.assert_close(sd["net.layer3.1.conv2.weight"], imagenet_cache["layer3.1.conv2.weight"])
    torch.testing.assert_close(sd["net.bn1.running_mean"], imagenet_cache["bn1.running_mean"])
    torch.testing.assert_close(sd["net.conv1.weight"], adapt_stem(imagenet_cache["conv1.weight"], 1, 3))


def test_imagenet_init_3d_inflates_every_conv(imagenet_cache):
    enc = build_encoder(InputSpec("volume3d", (1, 28, 28, 28)), "resnet18")
    initialize(enc, "imagenet")
    sd = enc.state_dict()
    # layer2.0 is the 3-D encoder's fifth block (features.3 is layer1.0)
    torch.testing.assert_close(
        sd["features.5.conv1.weight"], inflate(imagenet_cache["layer2.0.conv1.weight"])
    )
    torch.testing.assert_close(
        sd["features.5.short.0.weight"], inflate(imagenet_cache["layer2.0.downsample.0.weight"])
    )
    torch.testing.assert_close(sd["features.10.bn2.running_var"], imagenet_cache["layer4.1.bn2.running_var"])
    stem = inflate(adapt_stem(imagenet_cache["conv1.weight"], 1, 3))
    torch.testing.assert_close(sd["features.0.weight"], stem)


def test_init_from_a_saved_state_dict_and_clear_errors(tmp_path):
    spec = InputSpec("image2d", (1, 28, 28))
    torch.manual_seed(0)
    trained = build_encoder(spec, "small")
    path = tmp_path / "mine.pt"
    torch.save(trained.state_dict(), path)
    torch.manual_seed(1)
    fresh = initialize(build_encoder(spec, "small"), str(path))
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), trained.state_dict().values()))
    with pytest.raises(UsageError, match="not a state dict of this encoder"):
        initialize(build_encoder(spec, "resnet18"), str(path))
    with pytest.raises(UsageError, match="no ImageNet weights"):
        initialize(build_encoder(spec, "small"), "imagenet")
    with pytest.raises(UsageError, match="expected 'random', 'imagenet' or the path"):
        initialize(build_encoder(spec, "small"), str(tmp_path / "nope.pt"))
    assert initialize(trained, "random") is trained
