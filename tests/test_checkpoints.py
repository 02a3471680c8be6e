"""Shipped checkpoints: manifest complete, sha256 matches, each rebuilds alone and samples valid architectures."""

import hashlib
import json
from pathlib import Path

import pytest

from nag.diffusion.model import GraphDiffusionModel
from nag.diffusion.sampler import sample
from nag.spaces import get_space

CKPT = Path(__file__).resolve().parent.parent / "checkpoints"
MANIFEST = json.loads((CKPT / "MANIFEST.json").read_text())


def test_manifest_lists_every_checkpoint():
    assert set(MANIFEST) == {p.name for p in CKPT.glob("*.pt")}
    assert {"diffusion_nb201.pt", "diffusion_nb101.pt", "diffusion_nasbench_graph.pt"} <= set(MANIFEST)
    for entry in MANIFEST.values():
        assert {"space", "data", "command", "metrics", "sha256"} <= set(entry)
        assert entry["command"].startswith(".venv/bin/python experiments/train_checkpoints.py")


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_checkpoint_integrity_and_samples(name):
    path = CKPT / name
    entry = MANIFEST[name]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    assert path.stat().st_size < 8 * 2**20
    model = GraphDiffusionModel.load(
        path, user_given=False
    )  # weights_only: the shipped files hold no objects
    sp = get_space(entry["space"])
    assert model.space_name == sp.name and model.ops == sp.ops
    assert model.denoiser.num_parameters() <= 500_000
    res = sample(model, sp, 64, steps=10, seed=0, repair=5)
    assert res.validity >= 0.9
    assert all(a is None or sp.is_valid(a) for a in res.archs)
