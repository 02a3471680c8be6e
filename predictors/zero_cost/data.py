"""Minibatches for training-free metrics: real Fashion-MNIST images, or seeded Gaussian noise.

* `fashion_mnist_batch` — real 28 x 28 grey images from ``images/fashion_mnist/t10k-*`` (found through the data
  resolver), resized to the network's input size (bilinear), replicated to 3 channels and normalised with the
  Fashion-MNIST mean/std. Seeded, class-balanced-by-chance selection (a seeded permutation of the 10,000 images).
* `gaussian_batch` — seeded standard-normal images, for data-free metrics (Zen-score) and for callers with no data.
* `ones_batch` — the all-ones input synflow uses (built inside the metric; here for completeness).

Every batch is ``(x, y)`` with ``x``: ``B x 3 x H x W`` float32 and ``y``: ``B`` int64 class labels.
"""

from __future__ import annotations

import gzip
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from nag.benchmarks.data import resolve

__all__ = [
    "FMNIST_IMAGES",
    "FMNIST_LABELS",
    "FMNIST_MEAN",
    "FMNIST_STD",
    "read_idx",
    "load_fashion_mnist",
    "fashion_mnist_batch",
    "gaussian_batch",
    "ones_batch",
    "Batch",
]

Batch = tuple[torch.Tensor, torch.Tensor]

FMNIST_IMAGES = "images/fashion_mnist/t10k-images-idx3-ubyte.gz"
FMNIST_LABELS = "images/fashion_mnist/t10k-labels-idx1-ubyte.gz"
#: Mean and standard deviation of Fashion-MNIST pixels in [0, 1].
FMNIST_MEAN = 0.2860
FMNIST_STD = 0.3530

# IDX type codes (http://yann.lecun.com/exdb/mnist/): only unsigned bytes occur in (Fashion-)MNIST.
_IDX_DTYPES = {0x08: np.uint8}


def read_idx(raw: bytes) -> np.ndarray:
    """Parse an (uncompressed) IDX file: ``0 0 <type> <ndim>`` then ``ndim`` big-endian int32 sizes, then data."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError("idx: bad magic number; expected 0x0000 followed by type and ndim")
    dtype = _IDX_DTYPES.get(raw[2])
    if dtype is None:
        raise ValueError(
            f"idx: unsupported type code {raw[2]:#x}; accepted: {', '.join(map(hex, _IDX_DTYPES))}"
        )
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"idx: expected {int(np.prod(shape))} values for shape {shape}, found {data.size}")
    return data.reshape(shape)


@lru_cache(maxsize=1)
def load_fashion_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 Fashion-MNIST test images (``10000 x 28 x 28`` uint8) and labels (``10000`` uint8)."""
    images = read_idx(gzip.decompress(resolve(FMNIST_IMAGES).read_bytes()))
    labels = read_idx(gzip.decompress(resolve(FMNIST_LABELS).read_bytes()))
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"fashion_mnist: {images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels


def fashion_mnist_batch(
    batch_size: int = 64,
    seed: int = 0,
    size: int = 32,
    channels: int = 3,
    device: torch.device | str | None = None,
) -> Batch:
    """A real minibatch: seeded Fashion-MNIST images shaped for a CIFAR-style network.

    Args:
        batch_size: ``B``, at most 10,000.
        seed: selects the images (a seeded permutation of the test set); same seed, same batch.
        size: output height and width (32 for NB201 CIFAR networks, 16 for ImageNet16-120).
        channels: the grey channel is replicated this many times.
        device: where the tensors go (default CPU).

    Returns:
        ``x``: ``B x channels x size x size`` float32, normalised; ``y``: ``B`` int64 labels.
    """
    images, labels = load_fashion_mnist()
    if not 1 <= batch_size <= len(images):
        raise ValueError(f"batch_size: {batch_size} outside 1..{len(images)}")
    idx = np.random.default_rng(seed).permutation(len(images))[:batch_size]
    x = torch.from_numpy(images[idx].astype(np.float32) / 255.0).unsqueeze(1)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = ((x - FMNIST_MEAN) / FMNIST_STD).expand(-1, channels, -1, -1).contiguous()
    y = torch.from_numpy(labels[idx].astype(np.int64))
    return x.to(device), y.to(device)


def gaussian_batch(
    batch_size: int = 64,
    seed: int = 0,
    size: int = 32,
    channels: int = 3,
    num_classes: int = 10,
    device: torch.device | str | None = None,
) -> Batch:
    """Seeded ``N(0, 1)`` images and uniform labels (``B x channels x size x size``, ``B``), for data-free metrics."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, channels, size, size, generator=g)
    y = torch.randint(0, num_classes, (batch_size,), generator=g)
    return x.to(device), y.to(device)


def ones_batch(size: int = 32, channels: int = 3, device: torch.device | str | None = None) -> Batch:
    """One all-ones image (``1 x channels x size x size``) and label 0."""
    return torch.ones(1, channels, size, size, device=device), torch.zeros(
        1, dtype=torch.int64, device=device
    )
