"""Pure pieces of the loop and the runtime choice: epoch plans, LR scaling and warm-up, distribution."""

from __future__ import annotations

import dataclasses

import pytest

from train_container import contract, runtime, runtimes, train_loop
from train_container.hyperparameters import parse_hyperparameters


@pytest.mark.parametrize(
    ("start", "epochs", "per_epoch", "expected"),
    [
        (0, 3, False, [(0, 3)]),
        (2, 3, False, [(2, 3)]),
        (3, 3, False, []),
        (5, 3, True, []),
        (1, 4, True, [(1, 2), (2, 3), (3, 4)]),
    ],
)
def test_epoch_plan(start, epochs, per_epoch, expected):
    assert train_loop.epoch_plan(start, epochs, per_epoch) == expected


def hyperparameters(**values):
    hp, _ = parse_hyperparameters({k: str(v) for k, v in values.items()})
    return hp


def test_learning_rate_scales_linearly_with_replicas_unless_disabled():
    assert train_loop.scaled_learning_rate(hyperparameters(learning_rate=0.01), 8) == pytest.approx(0.08)
    hp = hyperparameters(learning_rate=0.01, lr_scaling="none")
    assert train_loop.scaled_learning_rate(hp, 8) == pytest.approx(0.01)


def test_warmup_ramps_to_the_target_then_holds():
    schedule = train_loop.warmup_schedule(0.4, 4)
    assert [schedule(e, 0.0) for e in range(6)] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4, 0.4])


@pytest.mark.parametrize(
    ("optimizer", "expected"), [("adam", "Adam"), ("sgd", "SGD"), ("rmsprop", "RMSprop")]
)
def test_optimizer_choice(optimizer, expected):
    built = train_loop.build_optimizer(hyperparameters(optimizer=optimizer, momentum=0.5), 0.2)
    assert type(built).__name__ == expected
    assert float(built.learning_rate.numpy()) == pytest.approx(0.2)


def settings_for(sm_root, distribution="auto", cpu_replicas=1, num_gpus=0, mpi_size=None):
    settings = contract.load(sm_root, environ={} if mpi_size is None else {
        "OMPI_COMM_WORLD_SIZE": str(mpi_size), "OMPI_COMM_WORLD_RANK": "0"})  # fmt: skip
    hp = dataclasses.replace(settings.hyperparameters, distribution=distribution, cpu_replicas=cpu_replicas)
    return dataclasses.replace(settings, hyperparameters=hp, num_gpus=num_gpus)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "single"),
        ({"num_gpus": 1}, "single"),
        ({"num_gpus": 4}, "mirrored"),
        ({"cpu_replicas": 2}, "mirrored"),
        ({"mpi_size": 4}, "horovod"),
        ({"mpi_size": 1}, "single"),
        ({"distribution": "multiworker", "num_gpus": 4}, "multiworker"),
        ({"distribution": "single", "num_gpus": 4}, "single"),
    ],
)
def test_auto_distribution(sm_root, kwargs, expected):
    assert runtimes.resolve_distribution(settings_for(sm_root, **kwargs)) == expected


def test_single_runtime_is_one_device_chief(sm_root):
    chosen = runtimes.select_runtime(settings_for(sm_root))
    assert chosen.name == "single" and chosen.is_chief and chosen.replicas == 1
    assert type(chosen.strategy).__name__ == "OneDeviceStrategy"
    assert chosen.strategy.num_replicas_in_sync == 1


@pytest.mark.parametrize("name", runtimes.MULTI_PROCESS)
def test_multi_process_runtimes_come_from_their_module(sm_root, monkeypatch, name):
    from train_container.runtimes import multi_process

    sentinel = runtime.Runtime(name=name, strategy=None, size=2, replicas=2)
    monkeypatch.setattr(multi_process, name, lambda settings: sentinel)
    assert runtimes.select_runtime(settings_for(sm_root, distribution=name)) is sentinel
