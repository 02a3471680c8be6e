"""`nag.config.Config`: every config of the project round-trips exactly and refuses what it cannot read."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bo.candidates import BananasConfig, DiffusionBOConfig
from bo.lit import TrainSettings
from bo.loop import RunConfig
from nag.config import Config, ConfigError
from nag.diffusion.denoiser import DenoiserConfig
from nag.diffusion.lit import TrainConfig
from nag.diffusion.schedules import DEFAULT_SOLVER, DEFAULT_STEPS, ScheduleConfig
from predictors.accuracy import AccuracyPredictorConfig
from predictors.encoders import EncoderConfig
from predictors.zero_cost.runner import ZCConfig

EXAMPLES: list[Config] = [
    ScheduleConfig(),
    ScheduleConfig(num_train_timesteps=50, beta_schedule="linear", beta_start=1e-3, beta_end=0.05),
    DenoiserConfig(num_nodes=8, num_ops=5),
    DenoiserConfig(num_nodes=7, num_ops=5, generate_edges=True, d_model=32, n_heads=2, dropout=0.1),
    TrainConfig(),
    TrainConfig(space="nb101", seed=3, schedule=ScheduleConfig(num_train_timesteps=100)),
    EncoderConfig(num_ops=5),
    EncoderConfig(num_ops=7, hidden=32, layers=2, time_embedding=True),
    AccuracyPredictorConfig(ops=("a", "b"), feature_names=("synflow",), noise_aware=True),
    ZCConfig(),
    ZCConfig(data="gaussian", batch_size=8, seed=2),
    DiffusionBOConfig(),
    DiffusionBOConfig(zc_metrics="synflow,params", acquisition="logei", pool=64),
    BananasConfig(beta=2.0),
    TrainSettings(epochs=1, lr=0.05),
    RunConfig(
        method="random", oracle={"kind": "benchmark", "space": "nb201"}, budget=5, method_options={"x": 1}
    ),
]


@pytest.mark.parametrize("cfg", EXAMPLES, ids=lambda c: type(c).__name__)
def test_strict_round_trip_through_json(cfg):
    d = json.loads(json.dumps(cfg.to_dict()))
    back = type(cfg).from_dict(d)
    assert back == cfg and type(back) is type(cfg)
    assert back.to_dict() == d


@pytest.mark.parametrize("cfg", EXAMPLES, ids=lambda c: type(c).__name__)
def test_unknown_key_is_refused_naming_it(cfg):
    d = cfg.to_dict() | {"d_modle": 3}
    with pytest.raises(ConfigError, match=r"d_modle: unknown key; accepted: "):
        type(cfg).from_dict(d)


@pytest.mark.parametrize(
    "cls, d, message",
    [
        (
            ScheduleConfig,
            {"num_train_timesteps": "1000"},
            "ScheduleConfig.num_train_timesteps: must be an integer",
        ),
        (ScheduleConfig, {"beta_schedule": "cosine"}, "beta_schedule: unknown value 'cosine'; accepted: "),
        (DenoiserConfig, {"num_nodes": 8}, "DenoiserConfig.num_ops: missing"),
        (
            DenoiserConfig,
            {"num_nodes": 8, "num_ops": 5, "generate_edges": 1},
            "generate_edges: must be a boolean",
        ),
        (EncoderConfig, {"num_ops": True}, "num_ops: must be an integer, got a boolean"),
        (
            TrainConfig,
            {"schedule": {"beta_end": "x"}},
            "TrainConfig.schedule.beta_end: must be a finite number",
        ),
        (TrainConfig, {"lr": float("nan")}, "lr: must be a finite number"),
        (AccuracyPredictorConfig, {"ops": "abc"}, "ops: must be a list"),
        (ZCConfig, [], "ZCConfig: must be an object, got a list"),
    ],
)
def test_wrong_types_are_refused_naming_the_field(cls, d, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        cls.from_dict(d)


def test_run_config_refuses_unknown_keys_like_the_run_files():
    d = EXAMPLES[-1].to_dict() | {"budgett": 3}
    with pytest.raises(ValueError, match=r"'config.budgett': unknown key"):
        RunConfig.from_json(d)


@settings(max_examples=60, deadline=None)
@given(
    t=st.integers(2, 5000),
    kind=st.sampled_from(["squaredcos_cap_v2", "linear"]),
    b0=st.floats(1e-6, 1e-2),
    b1=st.floats(1e-2, 0.5),
    d=st.sampled_from([16, 32, 64]),
    seed=st.integers(0, 2**31),
    lr=st.floats(1e-6, 1.0),
)
def test_round_trip_property(t, kind, b0, b1, d, seed, lr):
    cfg = TrainConfig(seed=seed, lr=lr, d_model=d, schedule=ScheduleConfig(t, kind, b0, b1))
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_one_source_of_defaults():
    """The trainer's denoiser size is the denoiser's; the sampler, the CLI and design share one solver default."""
    import inspect

    from nag.diffusion.sampler import sample
    from predictors.design import design

    dn, tr = DenoiserConfig(num_nodes=1, num_ops=1), TrainConfig()
    assert (tr.d_model, tr.n_layers, tr.n_heads, tr.ffn_mult) == (
        dn.d_model,
        dn.n_layers,
        dn.n_heads,
        dn.ffn_mult,
    )
    for fn in (sample, design, ScheduleConfig.sampler_scheduler):
        ps = inspect.signature(fn).parameters
        assert (ps["steps"].default, ps["solver"].default) == (DEFAULT_STEPS, DEFAULT_SOLVER)


def test_shipped_checkpoints_still_load():
    """Every shipped generator's stored configs pass the strict reader."""
    from pathlib import Path

    from nag.diffusion.model import GraphDiffusionModel

    for path in sorted(Path("checkpoints").glob("diffusion_*.pt")):
        m = GraphDiffusionModel.load(path)
        assert m.denoiser.cfg.d_model == 64 and m.schedule == ScheduleConfig()
