"""What the train loop knows about distribution: one frozen `Runtime` (strategy, rank, how to scale, what to wrap).

`train_container.runtimes.select_runtime(settings)` builds it; the train loop only reads it and never asks which
distribution it is. This module imports nothing of ours, so every runtime builder can import it.

`size` counts data-parallel processes (file shards are split by process); `replicas` counts model replicas
in total (global batch = batch_size x replicas; with lr_scaling=linear, LR x replicas).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _identity(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Runtime:
    name: str
    strategy: Any  # tf.distribute.Strategy
    rank: int = 0
    size: int = 1
    replicas: int = 1
    is_chief: bool = True
    shard_index: int = 0
    shard_count: int = 1
    wrap_optimizer: Callable[[Any], Any] = _identity
    callbacks: tuple[Any, ...] = ()
    # Makes every process adopt the chief's value (e.g. the resume epoch: only the chief may hold a checkpoint,
    # and ranks that disagree on the epoch count would wait on each other's allreduce forever).
    from_chief: Callable[[Any], Any] = _identity
    # Where checkpoint and SavedModel file I/O runs (None: TF's default). TF places each variable's save/restore
    # op on the variable's device; under parameter_server that is a ps task, on another host, which would write
    # into *its* filesystem. Pinning the I/O to this process is TF's documented fix.
    io_device: str | None = None
    # Keras callbacks as this strategy's `fit` accepts them (ParameterServerStrategy: epoch-level hooks only).
    adapt_callbacks: Callable[[list], list] = _identity
    # MultiWorkerMirrored: saving is collective, so non-chiefs write checkpoints and exports too (to scratch).
    collective_save: bool = False
