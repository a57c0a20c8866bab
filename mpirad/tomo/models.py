"""Study A networks: a ResNet18 classifier and a ResNet18-encoder U-Net segmenter.

Both come from ``torchvision.models.resnet18(weights=None)`` adapted to greyscale: the
first convolution takes one channel. Nothing is ever downloaded; pretrained weights are
optional and come from a local ``state_dict`` file (:func:`load_resnet18_weights`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet18


class WeightsError(ValueError):
    """A weights file that cannot be loaded into the network; names the file."""


def _greyscale_resnet18(num_classes: int, in_channels: int) -> nn.Module:
    model = resnet18(weights=None, num_classes=num_classes)
    if in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


def read_weights_file(path: Path) -> object:
    """``torch.load`` a weights file on the CPU, tensors only (never executes pickled code).

    Raises:
        WeightsError: no such file, or not readable as torch tensors.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such weights file") from None
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable torch state_dict ({exc})") from exc


def load_resnet18_weights(model: nn.Module, path: str | Path) -> list[str]:
    """Load a ResNet18 ``state_dict`` file into a (greyscale) torchvision ResNet18.

    Adaptations: a 3-channel ``conv1.weight`` is summed over its input channels for a
    1-channel model (a grey image fed as R = G = B gives the same response); ``fc.*``
    tensors whose shape differs (e.g. ImageNet's 1000 classes) are left at their
    initial values (or dropped, for a model without ``fc``). Every other tensor must
    match.

    Args:
        model: a module with torchvision ResNet18's parameter names.
        path: a file written by ``torch.save(model.state_dict(), path)``; a checkpoint
            dict with a ``"model"`` or ``"state_dict"`` entry is also accepted.

    Returns:
        Names of the tensors left at their initial values.

    Raises:
        WeightsError: unreadable file, or tensors that do not fit the network.
    """
    path = Path(path)
    state = read_weights_file(path)
    if isinstance(state, dict):
        for key in ("model", "state_dict"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: expected a state_dict (name -> tensor)")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = model.state_dict()
    skipped = []
    conv1 = state.get("conv1.weight")
    if conv1 is not None and conv1.shape[1] != own["conv1.weight"].shape[1]:
        if own["conv1.weight"].shape[1] == 1:
            state["conv1.weight"] = conv1.sum(dim=1, keepdim=True)
        else:
            raise WeightsError(
                f"{path}: conv1 has {conv1.shape[1]} input channels, the model "
                f"{own['conv1.weight'].shape[1]}"
            )
    for key in ("fc.weight", "fc.bias"):
        if key in state and (key not in own or state[key].shape != own[key].shape):
            del state[key]
            skipped.append(key)
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in state if k in own and state[k].shape != own[k].shape)
    if unexpected or mismatched:
        raise WeightsError(
            f"{path}: not ResNet18 weights; unexpected tensors {unexpected[:5]}, "
            f"wrong shapes {mismatched[:5]}"
        )
    missing = sorted(set(own) - set(state))
    model.load_state_dict(state, strict=False)
    return sorted(set(missing) | set(skipped))


def build_classifier(
    *, num_classes: int = 2, in_channels: int = 1, weights: str | Path | None = None
) -> nn.Module:
    """ResNet18 image classifier (ischemia yes/no).

    Args:
        num_classes: outputs (2: logits of "no ischemia" and "ischemia").
        in_channels: image channels (1 for greyscale tomograms).
        weights: optional local ResNet18 ``state_dict`` file (see
            :func:`load_resnet18_weights`); ``None`` trains from scratch.

    Returns:
        Module mapping ``(N, in_channels, H, W)`` float images to ``(N, num_classes)``
        logits. Any ``H, W`` of at least 32 pixels works.
    """
    model = _greyscale_resnet18(num_classes, in_channels)
    if weights is not None:
        load_resnet18_weights(model, weights)
    return model


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DecoderBlock(nn.Module):
    """Upsample x2 (nearest: deterministic on every device), concatenate the skip, convolve."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = _conv_block(in_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.block(x)


class ResNet18UNet(nn.Module):
    """U-Net with a ResNet18 encoder, for the ischemic-area segmentation.

    Encoder: torchvision ResNet18 (greyscale stem); its five stages give features at
    1/2 (64 channels), 1/4 (64), 1/8 (128), 1/16 (256) and 1/32 (512) of the input.
    Decoder: five :class:`DecoderBlock` stages (256, 128, 64, 32, 16 channels, the
    common U-Net decoder widths, e.g. segmentation_models_pytorch's default), each
    doubling the resolution and taking the encoder feature of that scale as skip
    connection, then a 1x1 convolution to one logit per pixel.

    Input ``(N, in_channels, H, W)`` with ``H`` and ``W`` multiples of 32; output
    ``(N, 1, H, W)`` logits (sigmoid > 0.5 = ischemic pixel).
    """

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        self.encoder = _greyscale_resnet18(num_classes=1000, in_channels=in_channels)
        self.encoder.fc = nn.Identity()
        self.decoder4 = DecoderBlock(512, 256, 256)
        self.decoder3 = DecoderBlock(256, 128, 128)
        self.decoder2 = DecoderBlock(128, 64, 64)
        self.decoder1 = DecoderBlock(64, 64, 32)
        self.decoder0 = DecoderBlock(32, 0, 16)
        self.head = nn.Conv2d(16, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if height % 32 or width % 32:
            raise ValueError(
                f"segmenter input must be a multiple of 32 pixels, got {height}x{width}"
            )
        enc = self.encoder
        x0 = enc.relu(enc.bn1(enc.conv1(x)))  # 1/2, 64
        x1 = enc.layer1(enc.maxpool(x0))  # 1/4, 64
        x2 = enc.layer2(x1)  # 1/8, 128
        x3 = enc.layer3(x2)  # 1/16, 256
        x4 = enc.layer4(x3)  # 1/32, 512
        y = self.decoder4(x4, x3)
        y = self.decoder3(y, x2)
        y = self.decoder2(y, x1)
        y = self.decoder1(y, x0)
        y = self.decoder0(y)
        return self.head(y)


def build_segmenter(*, in_channels: int = 1, weights: str | Path | None = None) -> ResNet18UNet:
    """ResNet18-encoder U-Net (see :class:`ResNet18UNet`).

    Args:
        in_channels: image channels.
        weights: optional local file: either a ResNet18 ``state_dict`` (loaded into the
            encoder, see :func:`load_resnet18_weights`) or a whole segmenter's
            ``state_dict`` (keys starting with ``encoder.``).

    Returns:
        The segmenter.

    Raises:
        WeightsError: a weights file that does not fit.
    """
    model = ResNet18UNet(in_channels=in_channels)
    if weights is not None:
        path = Path(weights)
        state = read_weights_file(path)
        if isinstance(state, dict) and any(str(k).startswith("encoder.") for k in state):
            try:
                model.load_state_dict(state)
            except RuntimeError as exc:
                raise WeightsError(f"{path}: not weights of this segmenter ({exc})") from exc
        else:
            load_resnet18_weights(model.encoder, path)
    return model
