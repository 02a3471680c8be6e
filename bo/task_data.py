"""The task's own images for real training: a data spec, its loading and validation, and a seeded split.

A *data spec* names where the images come from (`parse_data_spec`, accepted forms in `DATA_SPECS`):

* ``fashion-mnist`` — the 10,000 shipped Fashion-MNIST test images (28 x 28 grey, 10 classes); the default.
* ``imagefolder:DIR`` — one sub-folder of ``DIR`` per class, torchvision's ``ImageFolder`` convention: the class
  names are the sorted sub-folder names, class ``i`` is the ``i``-th; every (non-hidden) file below a class folder,
  at any depth, is an image of that class. All images share one size and one mode (grey ``L`` or colour).
* ``npz:FILE`` — a NumPy archive with ``x`` (``N x H x W``, ``N x H x W x C`` or ``N x C x H x W``, ``C`` 1 or 3;
  ``uint8`` 0..255 or floats) and ``y`` (``N`` integer labels ``0..K-1``); an optional ``classes`` array names the
  ``K`` classes (then labels may leave classes empty, otherwise every class ``0..max(y)`` must occur).
* ``torchvision:NAME:ROOT`` — a torchvision dataset already on disk under ``ROOT`` (``download=False``), its training
  part, e.g. ``torchvision:CIFAR10:/data``; names in `TORCHVISION_DATASETS`.

`load_images` reads a source once per process (cached) into ``uint8`` tensors and checks it; `make_split` draws a
seeded train / validation / test split, resizes to the stated input size, replicates grey to 3 channels and
normalises with per-channel statistics of the training split; `check_data` is the one call that validates a spec and
split sizes before any work (what the CLI calls). Every bad input raises a one-line `nag.errors.NagInputError` naming
the file or field (or `nag.errors.InvalidChoiceError` for an unknown scheme or dataset name).

Pillow decodes image files directly, following ``torchvision.datasets.ImageFolder``'s layout and its ``pil_loader``:
the torchvision wheels installable here are CUDA builds that do not import next to CPU-only torch, so torchvision is
imported only for the ``torchvision:`` scheme (a one-line error names the import failure).
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from nag.errors import InvalidChoiceError, NagInputError

__all__ = [
    "DATA_SPECS",
    "DEFAULT_DATA",
    "DEFAULT_FRACTIONS",
    "TORCHVISION_DATASETS",
    "DataSpec",
    "Images",
    "TaskSplit",
    "DataInfo",
    "parse_data_spec",
    "load_images",
    "split_sizes",
    "make_split",
    "check_data",
]

#: The accepted spec forms, as error messages list them.
DATA_SPECS = ("fashion-mnist", "imagefolder:DIR", "npz:FILE", "torchvision:NAME:ROOT")
DEFAULT_DATA = "fashion-mnist"
#: Train / validation / test fractions of the images when a split size is not given.
DEFAULT_FRACTIONS = (0.5, 0.25, 0.25)

#: torchvision datasets of fixed-size images the ``torchvision:`` scheme reads, with the arguments that select their
#: training part.
TORCHVISION_DATASETS: dict[str, dict[str, object]] = {
    "MNIST": {"train": True},
    "FashionMNIST": {"train": True},
    "KMNIST": {"train": True},
    "CIFAR10": {"train": True},
    "CIFAR100": {"train": True},
    "SVHN": {"split": "train"},
    "STL10": {"split": "train"},
    "USPS": {"train": True},
    "SEMEION": {},
    "EuroSAT": {},
}

_FMNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


@dataclass(frozen=True)
class DataSpec:
    """A parsed data spec; ``str(spec)`` is its canonical text.

    Attributes:
        scheme: ``fashion-mnist``, ``imagefolder``, ``npz`` or ``torchvision``.
        path: the folder, file or dataset root (empty for ``fashion-mnist``).
        name: the torchvision dataset class (``torchvision`` only).
    """

    scheme: str
    path: str = ""
    name: str = ""

    def __str__(self) -> str:
        if self.scheme == "fashion-mnist":
            return "fashion-mnist"
        if self.scheme == "torchvision":
            return f"torchvision:{self.name}:{self.path}"
        return f"{self.scheme}:{self.path}"


@dataclass(frozen=True, eq=False)
class Images:
    """Every image of a source, loaded once.

    Attributes:
        x: ``N x C x H x W`` pixels, ``C`` 1 (grey) or 3; ``uint8`` 0..255, or ``float32`` (as an npz stored them).
        y: ``N`` int64 labels in ``0..K-1``.
        classes: the ``K`` class names.
        stats: fixed ``(mean, std)`` of pixels in [0, 1] used instead of the training split's (Fashion-MNIST), or
            None.
    """

    x: torch.Tensor
    y: torch.Tensor
    classes: tuple[str, ...]
    stats: tuple[float, float] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True, eq=False)
class TaskSplit:
    """A seeded train / validation / test split ready for training.

    Attributes:
        train / val / test: `TensorDataset` of ``n x 3 x H x W`` float32 normalised images and ``n`` int64 labels.
        classes: the ``K`` class names.
        mean / std: the per-channel statistics (3 each) the images were normalised with, in pixel units of [0, 1].
    """

    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class DataInfo:
    """What `check_data` found: the canonical spec, the images, the classes and the resolved split sizes."""

    spec: str
    num_images: int
    num_classes: int
    image_shape: tuple[int, int, int]
    n_train: int
    n_val: int
    n_test: int


# ------------------------------------------------------------------------------------------------------- parsing
def parse_data_spec(text: str | DataSpec) -> DataSpec:
    """Parse a data spec (forms in `DATA_SPECS`); no file is read.

    Raises:
        InvalidChoiceError: an unknown scheme or torchvision dataset name (the message lists the accepted ones).
        NagInputError: a scheme without its path.
    """
    if isinstance(text, DataSpec):
        return text
    if not isinstance(text, str):
        raise InvalidChoiceError("data", text, DATA_SPECS)
    spec = text.strip()
    if spec.lower() in ("fashion-mnist", "fashion_mnist", "fmnist"):
        return DataSpec("fashion-mnist")
    scheme, sep, rest = spec.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in ("imagefolder", "npz", "torchvision"):
        raise InvalidChoiceError("data", text, DATA_SPECS)
    if scheme == "torchvision":
        name, sep, root = rest.partition(":")
        if not sep or not name or not root:
            raise NagInputError(
                f"data: {text!r} lacks the dataset name or root; accepted: torchvision:NAME:ROOT"
            )
        if name not in TORCHVISION_DATASETS:
            raise InvalidChoiceError(
                "data", f"torchvision:{name}", [f"torchvision:{n}:ROOT" for n in TORCHVISION_DATASETS]
            )
        return DataSpec("torchvision", root, name)
    if not rest:
        raise NagInputError(
            f"data: {text!r} lacks its path; accepted: {scheme}:{'DIR' if scheme == 'imagefolder' else 'FILE'}"
        )
    return DataSpec(scheme, rest)


# ------------------------------------------------------------------------------------------------------- loading
def load_images(spec: str | DataSpec) -> Images:
    """Read and check every image of a source (cached per process while the file or folder is unchanged).

    Raises:
        NagInputError: a missing or empty path, unreadable or non-image files, mixed image sizes or modes, bad or
            missing arrays, labels that are not integers ``0..K-1``, fewer than two classes.
    """
    spec = parse_data_spec(spec)
    stamp = None
    if spec.path:
        try:
            stamp = os.stat(spec.path).st_mtime_ns
        except OSError:
            stamp = None  # the loader names the missing path
    return _load_cached(spec, stamp)


@lru_cache(maxsize=4)
def _load_cached(spec: DataSpec, stamp: int | None) -> Images:
    del stamp  # only part of the cache key
    loader = {
        "fashion-mnist": _load_fashion_mnist,
        "imagefolder": _load_imagefolder,
        "npz": _load_npz,
        "torchvision": _load_torchvision,
    }[spec.scheme]
    return loader(spec)


def _load_fashion_mnist(spec: DataSpec) -> Images:
    from predictors.zero_cost.data import FMNIST_MEAN, FMNIST_STD, load_fashion_mnist

    images, labels = load_fashion_mnist()
    x = torch.tensor(images).unsqueeze(1)  # a copy: the decoded buffer is read-only
    y = torch.from_numpy(labels.astype(np.int64))
    # the published pixel statistics, not the split's: runs give the same numbers as before data specs existed
    return Images(x, y, _FMNIST_CLASSES, stats=(FMNIST_MEAN, FMNIST_STD))


def _require_path(spec: DataSpec, kind: str, folder: bool) -> Path:
    p = Path(spec.path).expanduser()
    if not p.exists():
        raise NagInputError(f"data: {kind} {str(p)!r} does not exist")
    if folder and not p.is_dir():
        raise NagInputError(f"data: {kind} {str(p)!r} is not a folder; accepted: imagefolder:DIR")
    if not folder and not p.is_file():
        raise NagInputError(f"data: {kind} {str(p)!r} is not a file; accepted: npz:FILE")
    return p


def _load_imagefolder(spec: DataSpec) -> Images:
    from PIL import Image, UnidentifiedImageError

    root = _require_path(spec, "imagefolder", folder=True)
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise NagInputError(
            f"data: imagefolder {str(root)!r} has no class sub-folders; expected one per class"
        )
    if len(classes) < 2:
        raise NagInputError(
            f"data: imagefolder {str(root)!r} has one class folder ({classes[0]!r}); at least 2 classes are needed"
        )
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        found = []
        for dirpath, dirnames, filenames in os.walk(root / name, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            found += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
        if not found:
            raise NagInputError(f"data: imagefolder class folder {str(root / name)!r} holds no images")
        files += [(f, label) for f in found]
    first: tuple[Path, tuple[int, int], str] | None = None
    arrays = []
    for f, _ in files:
        try:
            with Image.open(f) as im:
                size, mode = im.size, im.mode
                if first is None:
                    first = (f, size, mode)
                elif size != first[1]:
                    raise NagInputError(
                        f"data: image {str(f)!r} is {size[0]}x{size[1]} but {str(first[0])!r} is "
                        f"{first[1][0]}x{first[1][1]}; all images must share one size"
                    )
                elif mode != first[2]:
                    raise NagInputError(
                        f"data: image {str(f)!r} has mode {mode} but {str(first[0])!r} has mode {first[2]}; "
                        "all images must share one mode"
                    )
                # grey stays one channel; every other mode becomes RGB, as ImageFolder's pil_loader does
                arrays.append(np.asarray(im.convert("L" if mode == "L" else "RGB")))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            if isinstance(e, NagInputError):
                raise
            why = (str(e).splitlines() or [type(e).__name__])[0].replace(f" {str(f)!r}", "")
            raise NagInputError(f"data: {str(f)!r} is not a readable image ({why})") from None
    x = torch.from_numpy(np.stack(arrays))
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
    y = torch.tensor([label for _, label in files], dtype=torch.int64)
    return Images(x, y, tuple(classes))


def _load_npz(spec: DataSpec) -> Images:
    path = _require_path(spec, "npz file", folder=False)
    where = f"npz {str(path)!r}"
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            npy = fh.read(6) == b"\x93NUMPY"
        what = "a .npy array" if npy else "not an .npz archive"
        raise NagInputError(f"data: {str(path)!r} is {what}; accepted: an .npz archive with arrays x and y")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("x", "y") if k not in z.files]
            if missing:
                raise NagInputError(
                    f"data: {where} has no array {' or '.join(map(repr, missing))}; found "
                    f"{', '.join(z.files) or 'no arrays'}; expected x (images) and y (labels)"
                )
            x, y = z["x"], z["y"]
            names = z["classes"] if "classes" in z.files else None
    except NagInputError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise NagInputError(f"data: {str(path)!r} is not a readable .npz archive ({why})") from None
    images = _images_from_array(x, f"x in {where}")
    if y.ndim != 1:
        raise NagInputError(f"data: y in {where} has shape {y.shape}; accepted: N integer labels")
    if len(y) != len(images):
        raise NagInputError(f"data: {where}: x has {len(images)} images but y has {len(y)} labels")
    classes = None if names is None else tuple(str(n) for n in np.asarray(names).reshape(-1))
    labels, classes = _labels(y, f"y in {where}", classes)
    return Images(images, labels, classes)


def _load_torchvision(spec: DataSpec) -> Images:
    root = Path(spec.path).expanduser()
    if not root.is_dir():
        raise NagInputError(f"data: torchvision root {str(root)!r} is not an existing folder")
    try:
        import torchvision.datasets as tvd
    except Exception as e:  # noqa: BLE001 - a CUDA wheel beside CPU torch fails with RuntimeError, not ImportError
        why = (str(e).splitlines() or [type(e).__name__])[0]
        raise NagInputError(
            f"data: {spec} needs torchvision, which cannot be imported ({type(e).__name__}: {why}); install the "
            f"torchvision build matching torch {torch.__version__}"
        ) from None
    try:
        ds = getattr(tvd, spec.name)(str(root), download=False, **TORCHVISION_DATASETS[spec.name])
    except (RuntimeError, OSError) as e:
        why = (str(e).splitlines() or [type(e).__name__])[0]
        raise NagInputError(f"data: torchvision {spec.name} not found under {str(root)!r} ({why})") from None
    where = f"torchvision {spec.name} under {str(root)!r}"
    data = getattr(ds, "data", None)
    targets = getattr(ds, "targets", None)
    if targets is None:
        targets = getattr(ds, "labels", None)
    if data is not None and targets is not None and np.asarray(data).ndim in (3, 4):
        x = _images_from_array(np.asarray(data), where)
        y = np.asarray(targets)
    else:  # datasets of image files: decode each through the dataset itself
        pairs = [ds[i] for i in range(len(ds))]
        x = _images_from_array(np.stack([np.asarray(img) for img, _ in pairs]), where)
        y = np.asarray([t for _, t in pairs])
    names = getattr(ds, "classes", None)
    labels, classes = _labels(y, f"labels of {where}", tuple(map(str, names)) if names else None)
    return Images(x, labels, classes)


def _images_from_array(x: np.ndarray, where: str) -> torch.Tensor:
    """``N x H x W``, ``N x H x W x C`` or ``N x C x H x W`` (``C`` 1 or 3) -> ``N x C x H x W`` uint8 or float32."""
    if x.ndim not in (3, 4):
        raise NagInputError(
            f"data: {where} has shape {x.shape}; accepted: N x H x W, N x H x W x C or N x C x H x W (C 1 or 3)"
        )
    if x.shape[0] == 0:
        raise NagInputError(f"data: {where} holds no images (shape {x.shape})")
    if x.ndim == 3:
        x = x[:, None]
    elif x.shape[1] not in (1, 3):
        if x.shape[3] not in (1, 3):
            raise NagInputError(
                f"data: {where} has shape {x.shape}: no axis of 1 or 3 channels; "
                "accepted: N x H x W, N x H x W x C or N x C x H x W (C 1 or 3)"
            )
        x = x.transpose(0, 3, 1, 2)
    if x.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(x))
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise NagInputError(
                f"data: {where} has integer pixels in {lo}..{hi}; accepted: 0..255 (or floats)"
            )
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8))
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise NagInputError(f"data: {where} holds NaN or infinite pixels")
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    raise NagInputError(f"data: {where} has dtype {x.dtype}; accepted: uint8, integers 0..255 or floats")


def _labels(
    y: np.ndarray, where: str, classes: tuple[str, ...] | None
) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Check labels (``N``) are integers ``0..K-1``: ``K = len(classes)`` when named, else ``max + 1`` with every
    class present; at least two classes."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise NagInputError(f"data: {where} has shape {y.shape}; accepted: N integer labels")
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise NagInputError(f"data: {where} has dtype {y.dtype}; accepted: integer labels 0..K-1")
    if np.issubdtype(y.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if bad.size:
            i = int(bad[0])
            raise NagInputError(f"data: {where}: label {y[i].item()!r} at index {i} is not an integer")
    labels = y.astype(np.int64)
    neg = np.flatnonzero(labels < 0)
    if neg.size:
        i = int(neg[0])
        raise NagInputError(f"data: {where}: label {labels[i]} at index {i} is negative; accepted: 0..K-1")
    top = int(labels.max())
    if classes is not None:
        if top >= len(classes):
            i = int(np.flatnonzero(labels >= len(classes))[0])
            raise NagInputError(
                f"data: {where}: label {labels[i]} at index {i} is out of range; accepted: 0..{len(classes) - 1} "
                f"({len(classes)} class names)"
            )
    else:
        absent = np.setdiff1d(np.arange(top + 1), labels)
        if absent.size:
            raise NagInputError(
                f"data: {where}: no image of class {int(absent[0])}; labels must be 0..K-1 with every class present "
                f"(K = max + 1 = {top + 1})"
            )
        classes = tuple(str(i) for i in range(top + 1))
    if len(np.unique(labels)) < 2:
        raise NagInputError(f"data: {where}: every label is {labels[0]}; at least 2 classes are needed")
    return torch.from_numpy(labels), classes


# ------------------------------------------------------------------------------------------------------ splitting
def split_sizes(
    n: int,
    n_train: int | float | None = None,
    n_val: int | float | None = None,
    n_test: int | float | None = None,
    where: str = "the data",
) -> tuple[int, int, int]:
    """Resolve split sizes against ``n`` images: an int is a count, a float in ``(0, 1)`` a fraction of ``n``
    (rounded down), None the default fraction (`DEFAULT_FRACTIONS`).

    Raises:
        NagInputError: a size below 1 (after rounding) or sizes summing to more than ``n`` (the message names the
            fields and ``where``).
    """
    out = []
    for field, v, frac in zip(
        ("n_train", "n_val", "n_test"), (n_train, n_val, n_test), DEFAULT_FRACTIONS, strict=True
    ):
        if v is None:
            v = frac
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise NagInputError(
                f"{field}: {v!r} is not a size; accepted: a count >= 1 or a fraction in (0, 1)"
            )
        if isinstance(v, (float, np.floating)) and not float(v).is_integer():
            if not 0.0 < v < 1.0:
                raise NagInputError(
                    f"{field}: {v!r} is out of range; accepted: a count >= 1 or a fraction in (0, 1)"
                )
            k = math.floor(v * n)
            if k < 1:
                raise NagInputError(
                    f"{field}: fraction {v!r} of {n} images in {where} is no image; accepted: >= 1 image"
                )
        else:
            k = int(v)
            if k < 1:
                raise NagInputError(
                    f"{field}: {k} is out of range; accepted: a count >= 1 or a fraction in (0, 1)"
                )
        out.append(k)
    if sum(out) > n:
        raise NagInputError(
            f"n_train + n_val + n_test: {out[0]} + {out[1]} + {out[2]} = {sum(out)} is more than the {n} images of "
            f"{where}"
        )
    return out[0], out[1], out[2]


def _check_size(size: int | None) -> None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise NagInputError(f"size: {size!r} is out of range; accepted: an image size >= 1 (pixels), or None")


def _resize(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """``n x C x H x W`` -> ``n x C x size x size`` (bilinear; antialiased when shrinking)."""
    if size is None or tuple(x.shape[-2:]) == (size, size):
        return x
    shrink = size < x.shape[-2] or size < x.shape[-1]
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


def make_split(
    data: str | DataSpec = DEFAULT_DATA,
    n_train: int | float | None = None,
    n_val: int | float | None = None,
    n_test: int | float | None = None,
    seed: int = 0,
    size: int | None = None,
) -> TaskSplit:
    """Disjoint train / validation / test sets drawn by a seeded permutation of a source's images.

    The first ``n_train + n_val + n_test`` indices of ``numpy.random.default_rng(seed).permutation(N)`` are cut in
    that order. Pixels are scaled to [0, 1], resized to ``size x size`` (bilinear; None keeps the native size), grey
    replicated to 3 channels and normalised per channel with the mean and standard deviation of the training images
    (Fashion-MNIST keeps its published statistics, so its split equals the earlier ``fashion_mnist_split``).

    Args:
        data: a data spec (`parse_data_spec`).
        n_train / n_val / n_test: split sizes (`split_sizes`: counts, fractions or None for 50/25/25 %).
        seed: seeds the permutation.
        size: input height and width, or None.

    Returns:
        A `TaskSplit` whose sets hold ``n x 3 x size x size`` float32 images and ``n`` int64 labels.
    """
    spec = parse_data_spec(data)
    _check_size(size)
    images = load_images(spec)
    sizes = split_sizes(len(images), n_train, n_val, n_test, where=str(spec))
    idx = np.random.default_rng(seed).permutation(len(images))
    parts = np.split(idx[: sum(sizes)], [sizes[0], sizes[0] + sizes[1]])
    xs = []
    for p in parts:
        x = images.x[torch.from_numpy(p)]
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        xs.append(_resize(x, size).expand(-1, 3, -1, -1))
    if images.stats is not None:
        mean = torch.full((3,), images.stats[0])
        std = torch.full((3,), images.stats[1])
    else:
        t = xs[0].double()
        mean = t.mean(dim=(0, 2, 3)).float()
        std = t.std(dim=(0, 2, 3), correction=0).float()
        std = torch.where(
            std > 1e-8, std, torch.ones_like(std)
        )  # a constant channel stays centred, not divided by 0
    m, s = mean.view(1, 3, 1, 1), std.view(1, 3, 1, 1)
    sets = [
        TensorDataset(((x - m) / s).contiguous(), images.y[torch.from_numpy(p)])
        for x, p in zip(xs, parts, strict=True)
    ]
    return TaskSplit(sets[0], sets[1], sets[2], images.classes, tuple(mean.tolist()), tuple(std.tolist()))


def check_data(
    data: str | DataSpec = DEFAULT_DATA,
    n_train: int | float | None = None,
    n_val: int | float | None = None,
    n_test: int | float | None = None,
    size: int | None = None,
) -> DataInfo:
    """Validate a data spec and split sizes before any work: parse, read (cached) and check every image and label.

    Raises:
        NagInputError / InvalidChoiceError: one line naming the bad file or field (see `load_images`, `split_sizes`).
    """
    spec = parse_data_spec(data)
    _check_size(size)
    images = load_images(spec)
    sizes = split_sizes(len(images), n_train, n_val, n_test, where=str(spec))
    c, h, w = images.x.shape[1:]
    return DataInfo(str(spec), len(images), images.num_classes, (int(c), int(h), int(w)), *sizes)
