"""The task's own data (bo/task_data.py, bo/lit.TaskDataModule): specs, real files written to disk (npz arrays,
an ImageFolder of PNGs), the shipped Fashion-MNIST images, seeded splits and their statistics, every bad input as
one line naming its file or field, and a real training through `TrainingOracle` on npz data."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bo.lit import TaskDataModule, TrainSettings, fashion_mnist_split
from bo.oracles import TrainingOracle, build_oracle
from bo.task_data import (
    DATA_SPECS,
    DataSpec,
    check_data,
    load_images,
    make_split,
    parse_data_spec,
    split_sizes,
)
from nag.errors import InvalidChoiceError, NagInputError
from nag.spaces import get_space
from tests.conftest import requires_images

torch.set_num_threads(1)

N, K, H = 300, 3, 16


def _structured(n: int = N, k: int = K, h: int = H, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n x h x h`` uint8 images whose class (``n`` labels, ``k`` classes, each present) is a bright band at row
    ``4 * label``, over uniform noise (so every image differs)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    rng.shuffle(y)
    x = rng.integers(0, 100, size=(n, h, h))
    for i, label in enumerate(y):
        x[i, 4 * label : 4 * label + 3] += 150
    return x.astype(np.uint8), y.astype(np.int64)


@pytest.fixture(scope="module")
def npz_file(tmp_path_factory) -> Path:
    x, y = _structured()
    path = tmp_path_factory.mktemp("npz") / "task.npz"
    np.savez(path, x=x, y=y)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """An ImageFolder of 3 classes x 12 RGB PNGs of 12 x 10 pixels (one class one level deeper)."""
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(1)
    for c, name in enumerate(["cat", "dog", "emu"]):
        d = root / name / ("sub" if name == "emu" else "")
        d.mkdir(parents=True, exist_ok=True)
        for i in range(12):
            px = rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
            px[..., c] = 255
            Image.fromarray(px, "RGB").save(d / f"{i}.png")
    return root


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg
    return msg


# ----------------------------------------------------------------------------------------------------- specs
def test_parse_data_spec_forms():
    assert parse_data_spec("fashion-mnist") == DataSpec("fashion-mnist")
    assert str(parse_data_spec(" Fashion-MNIST ")) == "fashion-mnist"
    assert parse_data_spec("npz:/a/b.npz") == DataSpec("npz", "/a/b.npz")
    assert parse_data_spec("imagefolder:/x:y") == DataSpec("imagefolder", "/x:y")  # a colon inside the path
    tv = parse_data_spec("torchvision:CIFAR10:/data")
    assert (tv.scheme, tv.name, tv.path, str(tv)) == (
        "torchvision",
        "CIFAR10",
        "/data",
        "torchvision:CIFAR10:/data",
    )
    with pytest.raises(InvalidChoiceError) as e:
        parse_data_spec("hdf5:/x.h5")
    msg = _one_line(e)
    assert msg.startswith("data:") and all(form in msg for form in DATA_SPECS)
    with pytest.raises(InvalidChoiceError, match="torchvision:CIFAR10:ROOT"):
        parse_data_spec("torchvision:ImageNet:/data")
    with pytest.raises(NagInputError, match="npz:FILE"):
        parse_data_spec("npz:")


# ------------------------------------------------------------------------------------------------------ npz
def test_npz_split_shapes_disjoint_and_normalised(npz_file):
    s = make_split(f"npz:{npz_file}", 150, 60, 90, seed=0, size=20)
    assert s.num_classes == K and s.classes == ("0", "1", "2")
    for ds, n in ((s.train, 150), (s.val, 60), (s.test, 90)):
        x, y = ds.tensors
        assert x.shape == (n, 3, 20, 20) and x.dtype == torch.float32
        assert y.shape == (n,) and y.dtype == torch.int64 and int(y.min()) >= 0 and int(y.max()) < K
        assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])  # grey replicated
    keys = [{r.numpy().tobytes() for r in ds.tensors[0][:, 0]} for ds in (s.train, s.val, s.test)]
    assert [len(k) for k in keys] == [150, 60, 90]  # distinct images stay distinct
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    x = s.train.tensors[0].double()
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(x.std(dim=(0, 2, 3), correction=0), torch.ones(3, dtype=torch.float64), atol=1e-4)
    # the statistics are the training images' only (native size: no resize in between)
    native = make_split(f"npz:{npz_file}", 150, 60, 90, seed=0)
    train = np.load(npz_file)["x"][np.random.default_rng(0).permutation(N)[:150]] / 255.0
    assert native.mean == pytest.approx((train.mean(),) * 3, rel=1e-5)
    assert native.std == pytest.approx((train.std(),) * 3, rel=1e-5)


def test_npz_layouts_and_float_pixels_agree(tmp_path, npz_file):
    x, y = _structured()
    ref = make_split(f"npz:{npz_file}", 100, 50, 50, seed=3)
    rgb = np.repeat(x[..., None], 3, axis=-1)
    for name, arr in {
        "nhwc": rgb,
        "nchw": rgb.transpose(0, 3, 1, 2),
        "nhw1": x[..., None],
        "float": x / 255.0,
    }.items():
        np.savez(tmp_path / f"{name}.npz", x=arr, y=y)
        s = make_split(f"npz:{tmp_path / name}.npz", 100, 50, 50, seed=3)
        for a, b in zip((ref.train, ref.val, ref.test), (s.train, s.val, s.test), strict=True):
            assert torch.equal(a.tensors[1], b.tensors[1])
            assert torch.allclose(a.tensors[0], b.tensors[0], atol=1e-5), name


def test_split_is_deterministic_under_a_seed(npz_file):
    spec = f"npz:{npz_file}"
    a, b, c = (make_split(spec, 100, 50, 50, seed=s, size=16) for s in (7, 7, 8))
    assert all(
        torch.equal(u.tensors[0], v.tensors[0])
        for u, v in zip((a.train, a.test), (b.train, b.test), strict=True)
    )
    assert not torch.equal(a.train.tensors[1], c.train.tensors[1])


def test_default_and_fractional_sizes(npz_file):
    info = check_data(f"npz:{npz_file}")
    assert (info.num_images, info.num_classes, info.image_shape) == (N, K, (1, H, H))
    assert (info.n_train, info.n_val, info.n_test) == (150, 75, 75)
    info = check_data(f"npz:{npz_file}", 0.6, 0.1, 30)
    assert (info.n_train, info.n_val, info.n_test) == (180, 30, 30)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(3, 20_000),
    sizes=st.lists(
        st.one_of(st.none(), st.integers(-2, 20_000), st.floats(0.0, 1.0)), min_size=3, max_size=3
    ),
)
def test_split_sizes_property(n, sizes):
    try:
        out = split_sizes(n, *sizes)
    except NagInputError as e:
        assert "\n" not in str(e)
        return
    assert all(isinstance(k, int) and k >= 1 for k in out) and sum(out) <= n
    for v, k, f in zip(sizes, out, (0.5, 0.25, 0.25), strict=True):
        if v is None:
            assert k == math.floor(f * n)
        elif isinstance(v, int) or float(v).is_integer():
            assert k == int(v)
        else:
            assert k == math.floor(v * n)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.integers(1, 150), b=st.integers(1, 80), c=st.integers(1, 70), seed=st.integers(0, 2**32 - 1))
def test_split_sizes_and_disjointness_property(npz_file, a, b, c, seed):
    s = make_split(f"npz:{npz_file}", a, b, c, seed=seed)
    sets = [{r.numpy().tobytes() for r in ds.tensors[0][:, 0]} for ds in (s.train, s.val, s.test)]
    assert [len(ds) for ds in (s.train, s.val, s.test)] == [len(k) for k in sets] == [a, b, c]
    assert len(sets[0] | sets[1] | sets[2]) == a + b + c


# ----------------------------------------------------------------------------------------------- imagefolder
def test_imagefolder(folder):
    imgs = load_images(f"imagefolder:{folder}")
    assert (
        imgs.classes == ("cat", "dog", "emu")
        and imgs.x.shape == (36, 3, 10, 12)
        and imgs.x.dtype == torch.uint8
    )
    assert torch.equal(torch.bincount(imgs.y), torch.tensor([12, 12, 12]))
    for c in range(3):  # the class's channel is saturated in every image of that class
        assert bool((imgs.x[imgs.y == c, c] == 255).all())
    s = make_split(f"imagefolder:{folder}", 20, 8, 8, seed=0, size=8)
    assert s.train.tensors[0].shape == (20, 3, 8, 8) and s.num_classes == 3
    m = s.train.tensors[0].double().mean(dim=(0, 2, 3))
    assert torch.allclose(m, torch.zeros(3, dtype=torch.float64), atol=1e-5)


def test_imagefolder_grey(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.fromarray(np.full((6, 6), 40 * i + (100 if c == "b" else 0), np.uint8), "L").save(
                tmp_path / c / f"{i}.png"
            )
    imgs = load_images(f"imagefolder:{tmp_path}")
    assert imgs.x.shape == (6, 1, 6, 6)
    s = make_split(f"imagefolder:{tmp_path}", 2, 2, 2)
    x = s.train.tensors[0]
    assert x.shape == (2, 3, 6, 6) and torch.equal(x[:, 0], x[:, 2])


# ----------------------------------------------------------------------------------------------- Fashion-MNIST
@requires_images
def test_fashion_mnist_default_split_unchanged():
    """The default data gives the images of the split used before data specs (the former `fashion_mnist_split`,
    written out here), bit for bit."""
    from predictors.zero_cost.data import FMNIST_MEAN, FMNIST_STD, load_fashion_mnist

    images, labels = load_fashion_mnist()
    info = check_data()
    assert (info.spec, info.num_images, info.num_classes, info.n_train, info.n_val, info.n_test) == (
        "fashion-mnist", 10_000, 10, 5000, 2500, 2500,
    )  # fmt: skip
    for size in (28, 32):
        idx = np.random.default_rng(5).permutation(len(images))
        parts = np.split(idx[:900], [400, 700])
        new = fashion_mnist_split(400, 300, 200, seed=5, size=size)
        for p, ds in zip(parts, new, strict=True):
            x = torch.from_numpy(images[p].astype(np.float32) / 255.0).unsqueeze(1)
            if size != 28:
                x = torch.nn.functional.interpolate(
                    x, size=(size, size), mode="bilinear", align_corners=False
                )
            x = ((x - FMNIST_MEAN) / FMNIST_STD).expand(-1, 3, -1, -1)
            assert torch.equal(ds.tensors[0], x) and torch.equal(
                ds.tensors[1], torch.from_numpy(labels[p].astype(np.int64))
            )
    s = make_split("fashion-mnist", 2000, 10, 10, seed=0)
    m = s.train.tensors[0].mean(dim=(0, 2, 3))
    assert torch.allclose(m, torch.zeros(3), atol=0.05)  # the published statistics fit a random 2,000 images


# ------------------------------------------------------------------------------------------------- bad input
def _npz(tmp_path: Path, name: str = "bad.npz", **arrays) -> str:
    np.savez(tmp_path / name, **arrays)
    return f"npz:{tmp_path / name}"


def _folder(tmp_path: Path, files: dict[str, Image.Image | bytes]) -> str:
    root = tmp_path / "imgs"
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (root / rel).write_bytes(content)
        else:
            content.save(root / rel)
    root.mkdir(exist_ok=True)
    return f"imagefolder:{root}"


def _rgb(w: int = 8, h: int = 8) -> Image.Image:
    return Image.fromarray(np.zeros((h, w, 3), np.uint8), "RGB")


def _grey(w: int = 8, h: int = 8) -> Image.Image:
    return Image.fromarray(np.zeros((h, w), np.uint8), "L")


X, Y = _structured(30)

BAD = {
    "missing npz": (lambda t: f"npz:{t / 'nope.npz'}", "nope.npz"),
    "missing folder": (lambda t: f"imagefolder:{t / 'nope'}", "nope"),
    "npz is a folder": (lambda t: f"npz:{t}", "not a file"),
    "folder is a file": (lambda t: _npz(t, x=X, y=Y).replace("npz:", "imagefolder:"), "not a folder"),
    "empty folder": (lambda t: _folder(t, {}), "no class sub-folders"),
    "one class": (lambda t: _folder(t, {"cats/0.png": _rgb(), "cats/1.png": _rgb()}), "'cats'"),
    "empty class": (lambda t: _folder(t, {"a/0.png": _rgb(), "b/.keep": b""}), "/b' holds no images"),
    "mixed sizes": (lambda t: _folder(t, {"a/0.png": _rgb(), "b/1.png": _rgb(9, 8)}), "b/1.png' is 9x8"),
    "mixed modes": (lambda t: _folder(t, {"a/0.png": _rgb(), "b/1.png": _grey()}), "b/1.png' has mode L"),
    "non-image file": (
        lambda t: _folder(t, {"a/0.png": _rgb(), "b/notes.txt": b"hello"}),
        "b/notes.txt' is not",
    ),
    "broken image": (
        lambda t: _folder(t, {"a/0.png": _rgb(), "b/1.png": b"\x89PNG\r\n\x1a\nxx"}),
        "b/1.png' is not",
    ),
    "npz without y": (lambda t: _npz(t, x=X), "no array 'y'"),
    "npz without x": (lambda t: _npz(t, images=X, y=Y), "no array 'x'"),
    "not an npz": (
        lambda t: (t / "t.npz").write_text("just text") and f"npz:{t / 't.npz'}",
        "t.npz' is not an .npz archive",
    ),
    "an npy": (lambda t: np.save(t / "x.npy", X) or f"npz:{t / 'x.npy'}", "x.npy' is a .npy array"),
    "object arrays": (
        lambda t: _npz(t, x=X, y=np.array([None] * 30)),
        "bad.npz' is not a readable .npz archive",
    ),
    "length mismatch": (lambda t: _npz(t, x=X, y=Y[:-1]), "x has 30 images but y has 29 labels"),
    "negative label": (lambda t: _npz(t, x=X, y=np.r_[Y[:-1], -1]), "label -1 at index 29 is negative"),
    "non-integer label": (
        lambda t: _npz(t, x=X, y=np.r_[Y[:-1], 0.5]),
        "label 0.5 at index 29 is not an integer",
    ),
    "string labels": (lambda t: _npz(t, x=X, y=np.array(["a"] * 30)), "y in npz"),
    "label out of range": (
        lambda t: _npz(t, x=X, y=np.r_[Y[:-1], 7], classes=["a", "b", "c"]),
        "label 7 at index 29",
    ),
    "class missing": (lambda t: _npz(t, x=X, y=Y + 1), "no image of class 0"),
    "one label": (lambda t: _npz(t, x=X, y=np.zeros(30, int)), "at least 2 classes"),
    "bad x shape": (lambda t: _npz(t, x=X[:, :, :, None, None], y=Y), "has shape (30, 16, 16, 1, 1)"),
    "5 channels": (lambda t: _npz(t, x=np.zeros((30, 8, 8, 5), np.uint8), y=Y), "no axis of 1 or 3 channels"),
    "empty x": (lambda t: _npz(t, x=np.zeros((0, 8, 8), np.uint8), y=np.zeros(0, int)), "holds no images"),
    "nan pixels": (lambda t: _npz(t, x=np.full((30, 8, 8), np.nan), y=Y), "NaN"),
    "torchvision data absent": (lambda t: f"torchvision:CIFAR10:{t}", "CIFAR10"),
    "torchvision root absent": (
        lambda t: f"torchvision:MNIST:{t / 'none'}",
        "none' is not an existing folder",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_naming_the_file_or_field(tmp_path, case):
    make, needle = BAD[case]
    spec = make(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(NagInputError) as e:
        check_data(spec)
    msg = _one_line(e)
    assert msg.startswith("data: ") and needle in msg, msg
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


def test_bad_split_sizes_and_size(npz_file):
    spec = f"npz:{npz_file}"
    with pytest.raises(NagInputError) as e:
        check_data(spec, 200, 100, 50)
    assert _one_line(e).startswith(
        "n_train + n_val + n_test: 200 + 100 + 50 = 350 is more than the 300 images"
    )
    for kw, field in (({"n_val": 0}, "n_val"), ({"n_test": 1.5}, "n_test"), ({"n_train": "all"}, "n_train")):
        with pytest.raises(NagInputError, match=f"^{field}: "):
            check_data(spec, **kw)
    with pytest.raises(NagInputError, match="^size: "):
        check_data(spec, size=0)
    with pytest.raises(NagInputError, match="^data: "):  # the oracle checks its data when built
        TrainingOracle("nb201", data=f"npz:{npz_file.parent / 'missing.npz'}")
    with pytest.raises(NagInputError, match="^n_train \\+ n_val"):
        TrainingOracle("nb201", data=spec, n_train=300)


# ------------------------------------------------------------------------------------------ Lightning and oracle
def test_datamodule_batches(npz_file):
    dm = TaskDataModule(f"npz:{npz_file}", 65, 20, 20, seed=0, size=12, batch_size=16)
    dm.setup("fit")
    batches = list(dm.train_dataloader())
    assert (
        dm.num_classes == K and [len(b[1]) for b in batches] == [16] * 4
    )  # a last batch of one image is dropped
    x, y = next(iter(dm.val_dataloader()))
    assert x.shape == (20, 3, 12, 12) and y.dtype == torch.int64
    assert len(next(iter(dm.test_dataloader()))[1]) == 20
    assert TrainSettings(data="npz:x.npz").to_dict()["data"] == "npz:x.npz"


def test_training_oracle_on_npz_data(npz_file):
    spec = f"npz:{npz_file}"
    o = TrainingOracle(
        "nb201",
        epochs=1,
        n_train=200,
        n_val=50,
        n_test=50,
        batch_size=32,
        data=spec,
        module_kwargs={"C": 8, "N": 1},
    )
    assert o.num_classes == K and o.describe()["data"] == spec
    assert build_oracle(o.describe()).describe() == o.describe()
    a = get_space("nb201").sample(1, np.random.default_rng(0))[0]
    t0 = time.perf_counter()
    (e,) = o.evaluate([a])
    assert time.perf_counter() - t0 < 30
    assert 0.0 <= e.signal <= 100.0 and 0.0 <= e.report["test_acc"] <= 100.0
    assert math.isfinite(e.report["train_loss"]) and e.cost_s is not None and e.cost_s > 0
    with pytest.raises(ValueError, match="^module_kwargs: num_classes"):
        TrainingOracle("nb201", data=spec, module_kwargs={"num_classes": 3})


def test_mbv3_networks_take_small_inputs_and_any_class_count(npz_file):
    sp = get_space("mbv3")
    a = sp.sample(1, np.random.default_rng(0))[0]
    for size, k in ((16, 3), (28, 7), (32, 2)):
        net = sp.to_module(a, num_classes=k).eval()
        assert net(torch.randn(2, 3, size, size)).shape == (2, k)
    o = TrainingOracle(
        "mbv3", epochs=1, n_train=33, n_val=20, n_test=20, batch_size=16, size=28, data=f"npz:{npz_file}"
    )
    (e,) = o.evaluate([a])  # 33 = 2 x 16 + 1: the last batch of one image is dropped (BatchNorm at 1 x 1)
    assert o.num_classes == K and 0.0 <= e.signal <= 100.0 and 0.0 <= e.report["test_acc"] <= 100.0
