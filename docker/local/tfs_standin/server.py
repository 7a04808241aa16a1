#!/usr/bin/env python3
"""TF Serving stand-in: a `tensorflow_model_server`-compatible gRPC server for LOCAL TESTS ONLY.

The real binary cannot be installed here; this serves SavedModels over the same gRPC API (Predict,
GetModelMetadata, GetModelStatus), with the same flags, version handling and error codes, so the serving
container can be tested against it. Startup order follows the real binary: load the configured models, then
open the gRPC port (exit 255 if a model fails to load); --rest_api_port serves TF Serving's REST API.

Run: python server.py --port=8500 --model_name=model --model_base_path=/opt/ml/model
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import signal
import sys
import threading
from concurrent import futures

import standin_flags

MAX_MESSAGE_BYTES = 2**31 - 1  # TFS sets kint32max; gRPC's 4 MB default is far too small for batches.
STOP_GRACE_SECONDS = 5.0
log = logging.getLogger("tfs_standin")


def _fail(message: str) -> int:
    print(f"Failed to start server. Error: {message}", file=sys.stderr, flush=True)
    return standin_flags.USAGE_EXIT_CODE


def _configure_tensorflow(options: standin_flags.ServerOptions) -> None:
    import tensorflow as tf

    # Must happen before the first op runs, like TFS's session config.
    tf.config.threading.set_intra_op_parallelism_threads(options.intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(options.inter_op_threads)
    tf.config.set_visible_devices([], "GPU")


def _grpc_server(options: standin_flags.ServerOptions, manager):
    import grpc
    import standin_services
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    channel_options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        # grpcio enables SO_REUSEPORT by default, which would let two servers "share" a port silently.
        ("grpc.so_reuseport", 0),
        *standin_flags.grpc_channel_options(options),
    ]
    workers = options.grpc_max_threads or 4 * (os.cpu_count() or 1)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=channel_options)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        standin_services.PredictionService(manager), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(standin_services.ModelService(manager), server)
    address = f"0.0.0.0:{options.port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise OSError(f"Failed to BuildAndStart gRPC server: cannot bind {address}")
    return server


def _wait_initial_load(manager, stop: threading.Event) -> str | None:
    """Block until the configured models are loaded (None) or one failed (its error); '' if stopped."""
    while not stop.wait(0.1):
        done, error = manager.initial_load_result()
        if done:
            return error or None
    return ""


def serve(options: standin_flags.ServerOptions, hooks: standin_flags.DebugHooks) -> int:
    import standin_config

    try:
        models = standin_config.model_configs(options)
        batching = standin_config.batching(options)
    except standin_config.ConfigError as err:
        return _fail(str(err))
    _configure_tensorflow(options)
    from standin_core import LoadSettings, ModelManager

    manager = ModelManager(
        models,
        LoadSettings(
            tags=options.tags,
            batching=batching,
            max_num_load_retries=options.max_num_load_retries,
            retry_interval_seconds=options.load_retry_interval_micros / 1e6,
            load_delay_seconds=hooks.load_delay_seconds,
        ),
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    poller = threading.Thread(
        target=manager.run, args=(stop, options.file_system_poll_wait_seconds), name="fs-poll", daemon=True
    )
    poller.start()
    if not hooks.serve_while_loading:
        error = _wait_initial_load(manager, stop)
        if error == "":
            return 0
        if error:
            return _fail(error)
    try:
        server = _grpc_server(options, manager)
    except OSError as err:
        return _fail(str(err))
    rest = None
    if options.rest_api_port:
        import standin_rest

        try:
            rest = standin_rest.serve_rest(manager, options.rest_api_port)
        except OSError as err:
            return _fail(f"Failed to start HTTP Server on port {options.rest_api_port}: {err}")
    server.start()
    log.info("Running gRPC ModelServer at 0.0.0.0:%d ...", options.port)
    stop.wait()
    log.info("Shutting down: signal received")
    if rest is not None:
        rest.shutdown()
    server.stop(STOP_GRACE_SECONDS).wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        options = standin_flags.parse_args(argv)
        hooks = standin_flags.debug_hooks(os.environ)
    except standin_flags.UsageError as err:
        print(f"tensorflow_model_server: {err}", file=sys.stderr)
        print(standin_flags.usage(), end="")
        return standin_flags.USAGE_EXIT_CODE
    if options.help:
        print(standin_flags.usage(), end="")
        return 0
    if options.version:
        print(standin_flags.VERSION_TEXT.format(tf_version=importlib.metadata.version("tensorflow")), end="")
        return 0
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s.%(msecs)03d: %(levelname).1s tfs_standin] %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    return serve(options, hooks)


if __name__ == "__main__":
    sys.exit(main())
