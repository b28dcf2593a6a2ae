#!/usr/bin/env python3
"""PyTorch's reference for the full fine-tune, and its speed on this machine.

Runs the original's fine-tuning recipe with PyTorch on a fixed start, batch and seed:
the shared reference ResNet18 (model.safetensors), a batch of 8 preprocessed fixture tensors
(the six images, then the first two flipped left-right), fixed targets in score units ÷ max,
only layer3, layer4 and fc trainable, BatchNorm in training mode in the layers that train (batch
statistics, running statistics updated) and in evaluation mode in the frozen ones (conv1's and
layer1–2's BatchNorm keep their running statistics), MSE loss, Adam (lr 1e-4, betas
0.9/0.999, eps 1e-8).
Records the loss of each step (before its update) and the median seconds per step.

The Rust fine-tune must give the same losses (crates/engine/tests/finetune_parity.rs reads
the JSON this writes); `histoscore bench-train` prints the step time beside its own.

    python3 -m venv /var/tmp/histoscore-torch
    /var/tmp/histoscore-torch/bin/pip install torch numpy safetensors
    /var/tmp/histoscore-torch/bin/python scripts/make-finetune-fixture.py \
        ../shared/fixtures/reference-model > crates/engine/tests/data/finetune_losses.json
"""

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

IMAGES = [
    "S-3602-10X_Image001_ch00",
    "S-3602-10X_Image002_ch00",
    "S-4500-10x_Image123_RAW_ch00",
    "cmu_portrait_deflate_tiled",
    "gray_800x600",
    "rgba_800x600",
]
MAX = [4.0, 3.0, 3.0, 4.0]
# Score-unit targets per image of the batch (8 images: the six, then the first two flipped).
TARGETS = [
    [1.0, 2.0, 0.5, 3.0],
    [2.5, 1.0, 1.5, 0.75],
    [0.25, 3.0, 2.0, 1.5],
    [4.0, 0.0, 0.5, 2.25],
    [3.0, 1.75, 3.0, 4.0],
    [0.5, 0.5, 1.0, 0.0],
    [1.25, 2.25, 0.75, 3.5],
    [3.5, 1.5, 2.5, 1.0],
]
STEPS = 5
LR = 1e-4
TRAINABLE = ("layer3.", "layer4.", "fc.")


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(y + identity)


class ResNet18(nn.Module):
    """torchvision's resnet18 layout and parameter names, with a 4-output head."""

    def __init__(self, outputs):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        widths = [64, 128, 256, 512]
        cin = 64
        for i, w in enumerate(widths, start=1):
            stride = 1 if i == 1 else 2
            setattr(self, f"layer{i}", nn.Sequential(Block(cin, w, stride), Block(w, w, 1)))
            cin = w
        self.fc = nn.Linear(512, outputs)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    fixtures = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/fixtures/reference-model")
    torch.manual_seed(0)
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    state = load_file(str(fixtures / "model.safetensors"))
    model = ResNet18(len(MAX))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(m.endswith("num_batches_tracked") for m in missing), (
        missing,
        unexpected,
    )
    tensors = [
        np.load(fixtures / "tensors" / f"{name}.input.npy").reshape(3, 224, 224)
        for name in IMAGES
    ]
    tensors += [t[:, :, ::-1].copy() for t in tensors[:2]]
    x = torch.from_numpy(np.stack(tensors)).float()
    y = torch.tensor(TARGETS) / torch.tensor(MAX)
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith(TRAINABLE)
    opt = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=LR, betas=(0.9, 0.999), eps=1e-8
    )
    model.train()
    for name, m in model.named_modules():
        if isinstance(m, nn.BatchNorm2d) and not name.startswith(TRAINABLE):
            m.eval()
    losses, seconds = [], []
    for _ in range(STEPS):
        t = time.perf_counter()
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        seconds.append(time.perf_counter() - t)
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        after = model(x).tolist()
    json.dump(
        {
            "about": "PyTorch reference for the full fine-tune: made by "
            "scripts/make-finetune-fixture.py; see its docstring",
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "images": IMAGES,
            "flipped": IMAGES[:2],
            "targets": TARGETS,
            "max": MAX,
            "lr": LR,
            "trainable": list(TRAINABLE),
            "losses": losses,
            "eval_outputs_after": after,
            "step_seconds_median": statistics.median(seconds[1:]),
        },
        sys.stdout,
        indent=1,
    )
    print()


if __name__ == "__main__":
    main()
