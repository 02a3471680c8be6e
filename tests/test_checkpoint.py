"""`nag.checkpoint`: checkpoints load without running code, every failure names the file, shipped files are found."""

import builtins
import io
import zipfile

import pytest
import torch

from nag.checkpoint import default_checkpoint, load_checkpoint
from nag.errors import NagInputError, NagRuntimeError


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: the file appears if and only if the payload ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


@pytest.fixture()
def hostile(tmp_path):
    """A real diffusion checkpoint with a payload planted in its ``extra`` dict, and the marker it would create."""
    marker = tmp_path / "PAYLOAD_RAN"
    state = load_checkpoint(default_checkpoint("nb201"), "the shipped model", user_given=False)
    state["extra"] = {"note": _Payload(marker)}
    path = tmp_path / "hostile.pt"
    torch.save(state, path)
    return path, marker


def test_planted_payload_never_runs(hostile):
    path, marker = hostile
    with pytest.raises(NagInputError) as e:
        load_checkpoint(path, "a model")
    msg = str(e.value)
    assert str(path) in msg and "refused, not run" in msg and "open" in msg
    assert not marker.exists()


def test_predictor_loader_refuses_payload(hostile):
    from predictors.base import load_predictor

    path, marker = hostile
    with pytest.raises(NagInputError, match="refused, not run"):
        load_predictor(path)
    assert not marker.exists()


def test_lightning_checkpoint_names_the_file_to_pass(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"pytorch-lightning_version": "2.4.0", "state_dict": {"w": torch.ones(2)}}, run / "last.ckpt")
    with pytest.raises(NagInputError) as e:
        load_checkpoint(run / "last.ckpt", "a model")
    assert "Lightning training checkpoint" in str(e.value) and str(run / "model.pt") in str(e.value)


@pytest.mark.parametrize(
    "content,problem",
    [
        (b"", "EOFError"),
        (b"plain text\n", "not a readable torch checkpoint"),
        (b"\x80\x05garbage" * 50, "not a readable torch checkpoint"),
    ],
)
def test_damaged_files_one_line_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(NagInputError) as e:
        load_checkpoint(path, "a nag.diffusion/1 model file")
    msg = str(e.value)
    assert msg.startswith(f"checkpoint: {str(path)!r}") and problem in msg and "\n" not in msg
    assert msg.endswith("expected a nag.diffusion/1 model file")


def test_truncated_zip_and_found_files_are_runtime_errors(tmp_path):
    buf = io.BytesIO()
    torch.save({"x": torch.ones(1000)}, buf)
    path = tmp_path / "cut.pt"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(
        NagRuntimeError, match=r"^checkpoint file .*cut\.pt.* is not a readable torch checkpoint"
    ):
        load_checkpoint(path, "a model", user_given=False)
    with pytest.raises(NagInputError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt", "a model")
    with pytest.raises(NagInputError, match="is not a file"):
        load_checkpoint(tmp_path, "a model")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(NagInputError, match="holds a list, not a dict"):
        load_checkpoint(tmp_path / "list.pt", "a model")


def test_diffusion_checkpoint_missing_field_and_wrong_format(tmp_path):
    from nag.diffusion.model import GraphDiffusionModel

    state = load_checkpoint(default_checkpoint("nb201"), "the shipped model", user_given=False)
    del state["weights"]
    torch.save(state, tmp_path / "a.pt")
    with pytest.raises(NagInputError, match=r"a\.pt' lacks the field 'weights'"):
        GraphDiffusionModel.load(tmp_path / "a.pt")
    torch.save({"format": "nag.diffusion/9"}, tmp_path / "b.pt")
    with pytest.raises(NagInputError, match=r"b\.pt' does not hold a valid model .*nag\.diffusion/1"):
        GraphDiffusionModel.load(tmp_path / "b.pt")


def test_shipped_checkpoints_are_plain_and_found_as_package_data():
    from importlib import resources

    for space in ("nb201", "nb101", "nasbench_graph"):
        path = default_checkpoint(space)
        assert path.is_file() and path.parent == resources.files("checkpoints")
        with zipfile.ZipFile(path) as z:
            assert any(n.endswith("data.pkl") for n in z.namelist())
        assert load_checkpoint(path, "a model", user_given=False)["format"] == "nag.diffusion/1"


def test_predictor_roundtrip_through_the_safe_loader(tmp_path):
    from nag.spaces import get_space
    from predictors.accuracy import AccuracyPredictorConfig, EnsemblePredictor
    from predictors.base import load_predictor

    sp = get_space("nb201")
    archs = sp.sample(24, seed=0)
    g = sp.encode(archs)
    y = torch.linspace(0, 1, 24)
    p = EnsemblePredictor(AccuracyPredictorConfig(ops=sp.ops, ensemble=2, hidden=8, max_epochs=2, seed=0))
    p.fit(g, y)
    p.save(tmp_path / "p.pt")
    q = load_predictor(tmp_path / "p.pt")
    assert torch.allclose(p.predict(g).mean, q.predict(g).mean)
