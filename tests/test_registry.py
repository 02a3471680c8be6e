"""`nag.registry.Registry`: lazy targets, aliases, fuzzy spellings, errors naming the choices; the registries on it."""

import pytest

from nag.errors import InvalidChoiceError
from nag.registry import Registry, load_target


def test_lazy_targets_aliases_and_errors():
    entries = {"ordered": "collections:OrderedDict", "plain": dict}
    reg = Registry("thing", entries, {"od": "ordered"}, fuzzy=True)
    from collections import OrderedDict

    assert reg.load("ordered") is OrderedDict and reg.load("OD") is OrderedDict and reg.load("plain") is dict
    assert reg.canonical(" Ordered ") == "ordered" and "od" in reg and "nope" not in reg
    with pytest.raises(InvalidChoiceError) as e:
        reg.canonical("nope")
    assert e.value.field == "thing" and e.value.accepted == ["ordered", "plain", "od"]
    reg.register("listing", "builtins:list", aliases=("ls",))
    assert reg.load("ls") is list and entries["listing"] == "builtins:list"  # the dict is read through
    with pytest.raises(ValueError, match="already registered"):
        reg.register("plain", set)
    with pytest.raises(ValueError, match="module:Attr"):
        load_target("no_colon")


def test_exact_registry_refuses_variants():
    reg = Registry("method", {"diffusion-bo": dict})
    assert reg.find("diffusion_bo") is None and reg.find("diffusion-bo") == "diffusion-bo"


def test_project_registries_resolve_through_it():
    from bo.loop import get_method, method_names
    from bo.oracles import build_oracle
    from nag.benchmarks import get_spec
    from nag.spaces import canonical_space_name, space_names

    assert canonical_space_name("NAS-Bench-201") == "nb201" and "transnas101_micro" in space_names()
    assert get_spec("nasbench201").report == "test_acc"
    with pytest.raises(InvalidChoiceError, match="space"):
        get_spec("mbv3")  # a space without a benchmark
    with pytest.raises(InvalidChoiceError, match="method"):
        get_method("nope", None, None)
    assert "robot" in method_names()
    with pytest.raises(InvalidChoiceError, match="oracle"):
        build_oracle({"kind": "crystal-ball"})
