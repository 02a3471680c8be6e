"""Executors (bo/executors.py): serial, process pool and Ray give the same evaluations and the same searches."""

from __future__ import annotations

import importlib.util
import os
import time

import pytest
import torch

from bo.executors import ProcessExecutor, SerialExecutor, get_executor
from bo.loop import run_search
from bo.oracles import BenchmarkOracle
from nag.errors import InvalidChoiceError
from nag.spaces import get_space

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def oracle():
    return BenchmarkOracle("nb201", "ImageNet16-120", constraints=["params<=0.8"])


@pytest.fixture(scope="module")
def archs():
    return get_space("nb201").sample(5, seed=3)


def test_serial(oracle, archs):
    ex = SerialExecutor()
    assert ex.map(oracle, archs) == oracle.evaluate(archs)
    assert [i for i, _ in ex.imap(oracle, archs)] == list(range(5))


def test_process_pool_same_evaluations_and_search(oracle, archs):
    with ProcessExecutor(workers=2) as ex:
        assert ex.map(oracle, archs) == oracle.evaluate(archs)
        # an `imap` cut short (as by Ctrl-C): what completed but was not yielded is harvested, once
        it = ex.imap(oracle, archs)
        first, _ = next(it)
        deadline = time.monotonic() + 60
        while not all(f.done() for f in ex._inflight) and time.monotonic() < deadline:
            time.sleep(0.01)
        got = ex.harvest()
        assert sorted([first] + [i for i, _ in got]) == list(range(5))
        assert all(ev == oracle.evaluate([archs[i]])[0] for i, ev in got)
        assert ex.harvest() == []
        it.close()
        st = run_search("evolution", oracle, budget=14, q=3, seed=2, executor=ex)
    serial = run_search("evolution", oracle, budget=14, q=3, seed=2)
    assert st.archs == serial.archs and st.signals == serial.signals and st.reports == serial.reports


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray is not installed (pip install 'nag[ray]' to run this test)",
)
def test_ray_local_instance(oracle, archs):
    from bo.executors import RayExecutor

    with RayExecutor(num_cpus=2) as ex:
        pids = ex.wait_warm()  # two warm-up tasks ran in worker processes, not here
        assert len(pids) == 2 and os.getpid() not in pids and ex.wait_warm() == []
        assert ex.map(oracle, archs) == oracle.evaluate(archs)
        st = run_search("local", oracle, budget=13, q=4, seed=1, executor=ex)
    serial = run_search("local", oracle, budget=13, q=4, seed=1)
    assert st.archs == serial.archs and st.signals == serial.signals


def test_get_executor():
    assert isinstance(get_executor("serial"), SerialExecutor)
    ex = get_executor("process", workers=3)
    assert isinstance(ex, ProcessExecutor) and ex.workers == 3
    ex.close()
    with pytest.raises(InvalidChoiceError, match="^executor:.*serial, process, ray"):
        get_executor("dask")
    with pytest.raises(ValueError, match="^workers:"):
        ProcessExecutor(0)
