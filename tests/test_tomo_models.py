"""ResNet18 classifier and ResNet18 U-Net segmenter (mpirad.tomo.models)."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import resnet18

from mpirad.tomo.models import (
    WeightsError,
    build_classifier,
    build_segmenter,
    load_resnet18_weights,
)

torch.set_num_threads(1)


def test_classifier_takes_greyscale_and_gives_two_logits():
    model = build_classifier().eval()
    assert model.conv1.in_channels == 1
    with torch.no_grad():
        assert model(torch.zeros(3, 1, 32, 32)).shape == (3, 2)
        assert model(torch.zeros(1, 1, 64, 80)).shape == (1, 2)


def test_segmenter_gives_one_logit_per_pixel():
    model = build_segmenter().eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 1, 32, 32)
        assert model(torch.zeros(1, 1, 64, 96)).shape == (1, 1, 64, 96)
    with pytest.raises(ValueError, match="multiple of 32"):
        model(torch.zeros(1, 1, 40, 40))


def test_imagenet_style_weights_load_into_greyscale_models(tmp_path):
    torch.manual_seed(0)
    reference = resnet18(weights=None)  # 3 channels, 1000 classes, like ImageNet weights
    path = tmp_path / "resnet18.pt"
    torch.save(reference.state_dict(), path)

    classifier = build_classifier(weights=path)
    expected_conv1 = reference.conv1.weight.sum(dim=1, keepdim=True)
    assert torch.equal(classifier.conv1.weight, expected_conv1)
    assert torch.equal(classifier.layer3[0].conv1.weight, reference.layer3[0].conv1.weight)
    assert classifier.fc.out_features == 2  # fc left at its initial values

    # a grey image fed as RGB gives the same stem response as the summed 1-channel conv
    grey = torch.rand(1, 1, 32, 32)
    torch.testing.assert_close(
        classifier.conv1(grey), reference.conv1(grey.expand(1, 3, 32, 32)), rtol=1e-5, atol=1e-5
    )

    segmenter = build_segmenter(weights=path)
    assert torch.equal(segmenter.encoder.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)


def test_segmenter_weights_round_trip(tmp_path):
    torch.manual_seed(1)
    original = build_segmenter()
    path = tmp_path / "segmenter.pt"
    torch.save(original.state_dict(), path)
    loaded = build_segmenter(weights=path)
    for key, value in original.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_bad_weight_files_are_named(tmp_path):
    with pytest.raises(WeightsError, match="absent.pt"):
        build_classifier(weights=tmp_path / "absent.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="junk.pt"):
        build_classifier(weights=junk)
    other = tmp_path / "other.pt"
    torch.save({"conv1.weight": torch.zeros(64, 1, 3, 3)}, other)
    with pytest.raises(WeightsError, match="other.pt.*wrong shapes"):
        load_resnet18_weights(build_classifier(), other)
