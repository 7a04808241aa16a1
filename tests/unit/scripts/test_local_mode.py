"""What `--local` changes in a request, and what it leaves as AWS would check it (the engine itself runs in
tests/container/test_processing.py)."""

from __future__ import annotations

import pytest

from scripts.config import ConfigError
from scripts.launch import api_requests as rq
from scripts.launch import local_mode
from scripts.launch.validation import check_request


def transform(split_type: str, batch_strategy: str = "MultiRecord") -> dict:
    spec = rq.TransformSpec(
        model_name="m", input_s3_uri="file:///data/eval", output_s3_uri="file:///runs/predictions",
        content_type=rq.TFRECORD_CONTENT_TYPE, split_type=split_type, batch_strategy=batch_strategy,
        max_payload_mb=6, max_concurrent_transforms=4, instance_type="ml.m5.xlarge", instance_count=1,
    )  # fmt: skip
    return rq.transform_job_request("bt", spec, {})


def test_a_tfrecord_transform_runs_unsplit_and_the_rest_as_built():
    request = transform("TFRecord")
    checked = local_mode.checked_form(request)
    assert checked["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://local-folder/data/eval"
    check_request("CreateTransformJob", checked)
    local = local_mode.local_form(request)
    assert local["TransformInput"]["SplitType"] == "None"  # the engine raises on TFRecord
    assert local["TransformResources"]["InstanceType"] == "local"
    assert local["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == "file:///data/eval"
    rest = {k: v for k, v in local.items() if k not in ("TransformInput", "TransformResources")}
    assert rest == {k: v for k, v in request.items() if k not in ("TransformInput", "TransformResources")}
    assert request["TransformInput"]["SplitType"] == "TFRecord"  # the built request is not changed


@pytest.mark.parametrize("split_type", ["Line", "None"])
def test_splits_the_engine_reads_are_kept(split_type):
    request = transform(split_type, "SingleRecord")
    assert local_mode.local_form(request)["TransformInput"]["SplitType"] == split_type


def test_the_serving_port_wait_returns_once_the_port_is_let_go_and_names_it_when_it_is_not():
    # What the engine's serving container does after a local transform: it holds the port a while, then goes.
    import socket
    import threading

    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    port = holder.getsockname()[1]
    assert local_mode.serving_port_in_use(port)
    with pytest.raises(ConfigError, match=rf"^port {port} is still in use after 1 s: the SDK's local mode serves"):
        local_mode.wait_for_serving_port(timeout=1, port=port)
    threading.Timer(0.7, holder.close).start()
    local_mode.wait_for_serving_port(timeout=10, port=port)
    assert not local_mode.serving_port_in_use(port)


def test_connections_lingering_in_time_wait_do_not_hold_the_serving_port():
    import socket

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end of the connection sits in TIME_WAIT on `port`
    client.close()
    server.close()
    assert not local_mode.serving_port_in_use(port)
