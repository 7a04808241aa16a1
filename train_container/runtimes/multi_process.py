"""Multi-process runtimes for `train_container.runtimes.select_runtime`: Horovod, MultiWorkerMirrored, PS.

Each builds its strategy and tells the train loop who it is (rank, chief, data shard) and what to wrap.
TensorFlow and Horovod are imported inside the functions: only the chosen one pays for its imports.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Mapping
from typing import Any

from train_container.contract import TrainingEnv
from train_container.distributed.tf_config import (
    Task,
    multiworker_tf_config,
    parameter_server_tf_config,
)
from train_container.distributed.topology import build_topology
from train_container.errors import ConfigError
from train_container.horovod_compat import horovod_keras
from train_container.runtime import Runtime


def horovod(settings: TrainingEnv) -> Runtime:
    """One process per slot, started by mpirun; gradients averaged by Horovod's allreduce."""
    import tensorflow as tf

    hvd = horovod_keras()
    hvd.init()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        # One GPU per rank; growth so a rank never grabs memory its neighbour's TF runtime needs.
        gpu = gpus[hvd.local_rank() % len(gpus)]
        tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.set_visible_devices(gpu, "GPU")
    else:
        # Ranks on one host share its cores; TF's default (all cores per process) oversubscribes them.
        threads = max(1, settings.num_cpus // hvd.local_size())
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    rank, size = hvd.rank(), hvd.size()
    callbacks = (
        # Same starting weights everywhere (random init or a checkpoint only rank 0 may have).
        hvd.callbacks.BroadcastGlobalVariablesCallback(0),
        # Logged metrics are the mean over ranks, not rank 0's shard alone.
        hvd.callbacks.MetricAverageCallback(),
    )
    return Runtime(
        name="horovod",
        strategy=tf.distribute.get_strategy(),
        rank=rank,
        size=size,
        replicas=size,
        is_chief=rank == 0,
        shard_index=rank,
        shard_count=size,
        wrap_optimizer=hvd.DistributedOptimizer,
        callbacks=callbacks,
        from_chief=_broadcast_from_rank0,
    )


def _broadcast_from_rank0(value):
    import horovod.tensorflow as hvd_tf

    return hvd_tf.broadcast_object(value, root_rank=0)


def _resolver(config: Mapping[str, Any]):
    """A cluster resolver from a TF_CONFIG-shaped dict, so no process-wide TF_CONFIG is needed."""
    import tensorflow as tf

    try:
        cluster = {job: list(addresses) for job, addresses in config["cluster"].items()}
        task = config["task"]
        return tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec(cluster),
            task_type=task["type"],
            task_id=int(task["index"]),
            rpc_layer="grpc",
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"TF_CONFIG must have 'cluster' and 'task' {{type, index}}: {exc}") from None


def multiworker_config(settings: TrainingEnv) -> dict:
    """The user's TF_CONFIG if set (e.g. several workers per host), else one worker per host."""
    if settings.process.tf_config is not None:
        return json.loads(json.dumps(dict(settings.process.tf_config)))
    resource = settings.resource
    return json.loads(multiworker_tf_config(build_topology(resource.hosts, resource.current_host, 1)))


def multiworker(settings: TrainingEnv) -> Runtime:
    """Synchronous all-reduce across hosts; worker 0 (first sorted host) is the chief and exports."""
    import tensorflow as tf

    config = multiworker_config(settings)
    resolver = _resolver(config)
    workers = len(config["cluster"].get("worker", ()))
    index = int(config["task"]["index"])
    if config["task"]["type"] != "worker" or "chief" in config["cluster"]:
        raise ConfigError("distribution=multiworker expects TF_CONFIG with workers only (worker 0 is chief)")
    implementation = (
        tf.distribute.experimental.CommunicationImplementation.NCCL
        if tf.config.list_physical_devices("GPU")
        else tf.distribute.experimental.CommunicationImplementation.RING
    )
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        cluster_resolver=resolver,
        communication_options=tf.distribute.experimental.CommunicationOptions(implementation=implementation),
    )
    return Runtime(
        name="multiworker",
        strategy=strategy,
        rank=index,
        size=workers,
        replicas=strategy.num_replicas_in_sync,
        is_chief=index == 0,
        shard_index=index,
        shard_count=workers,
        collective_save=True,
    )


def parameter_server_config(settings: TrainingEnv) -> dict:
    if settings.process.tf_config is not None:
        return json.loads(json.dumps(dict(settings.process.tf_config)))
    resource = settings.resource
    topology = build_topology(resource.hosts, resource.current_host, 1)
    return json.loads(parameter_server_tf_config(topology, Task("chief", 0)))


def parameter_server(settings: TrainingEnv) -> Runtime:
    """Chief: ParameterServerStrategy + ClusterCoordinator. ps/worker tasks serve until terminated."""
    import tensorflow as tf

    config = parameter_server_config(settings)
    resolver = _resolver(config)
    task_type = config["task"]["type"]
    if task_type in ("ps", "worker"):
        server = tf.distribute.Server(
            resolver.cluster_spec(), job_name=task_type, task_index=resolver.task_id, protocol="grpc"
        )
        print(f"parameter_server: {task_type} {resolver.task_id} serving", flush=True)
        # join() blocks in C++, where Python signal handlers never run: let SIGTERM end the process.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        server.join()  # returns never; the launcher terminates this process when the chief is done
    if task_type != "chief":
        raise ConfigError(f"distribution=parameter_server: unknown task type {task_type!r} in TF_CONFIG")
    from train_container.distributed.epoch_only import epoch_only

    strategy = tf.distribute.experimental.ParameterServerStrategy(resolver)
    workers = len(config["cluster"].get("worker", ()))
    return Runtime(
        name="parameter_server",
        strategy=strategy,
        replicas=strategy.num_replicas_in_sync,
        is_chief=True,
        shard_count=1,
        size=max(workers, 1),
        io_device="/job:chief/replica:0/task:0/device:CPU:0",
        adapt_callbacks=epoch_only,
    )
