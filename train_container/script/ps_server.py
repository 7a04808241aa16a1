"""A parameter server for a user's script (sagemaker_parameter_server_enabled): serve the `ps` task in TF_CONFIG.

CPU only, as the TF toolkit's: several TensorFlow processes on one GPU are not safe. Runs until terminated.
"""

from __future__ import annotations

import os
import signal

from train_container import contract


def main() -> None:
    config = contract.read_process_env(os.environ).tf_config
    if config is None or config.get("task", {}).get("type") != "ps":
        raise SystemExit("ps_server needs TF_CONFIG with a ps task")
    import tensorflow as tf

    cluster = tf.train.ClusterSpec({job: list(addresses) for job, addresses in config["cluster"].items()})
    index = int(config["task"]["index"])
    server = tf.distribute.Server(
        cluster, job_name="ps", task_index=index, protocol="grpc",
        config=tf.compat.v1.ConfigProto(device_count={"GPU": 0}),
    )  # fmt: skip
    print(f"parameter server: ps {index} serving at {cluster.task_address('ps', index)}", flush=True)
    # join() blocks in C++, where Python signal handlers never run: let SIGTERM end the process.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    server.join()


if __name__ == "__main__":
    main()
