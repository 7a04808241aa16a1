# SageMaker serving image: the AWS TensorFlow inference DLC (native TF Serving, no TensorFlow in its Python) +
# our Flask/gunicorn front end talking gRPC to TF Serving. `docker run IMAGE serve` is how SageMaker runs it.
#
# BASE_IMAGE: tags live in docker/base_images.json (unit-tested to match this default). GPU:
#   --build-arg BASE_IMAGE=<...tensorflow-inference:2.16.1-gpu-py310-cu122-ubuntu20.04-sagemaker>
# INFERENCE_REQUIREMENTS: extra pip requirement specifiers (e.g. the lines of model/code/requirements.txt),
# installed at build time so containers never pip install at start.
ARG BASE_IMAGE=763104351884.dkr.ecr.us-west-2.amazonaws.com/tensorflow-inference:2.16.1-cpu-py310-ubuntu20.04-sagemaker

# --- The TF protobuf modules the TF Serving API imports, cut out of the pinned TF wheel (no TF runtime).
FROM ${BASE_IMAGE} AS tf-protos
ARG PIP_INDEX_URL=""
ARG PIP_FIND_LINKS=""
ARG PIP_NO_INDEX=""
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY requirements/constraints.txt docker/build/extract_tf_protos.py /opt/byoc/
RUN python3 -m pip download --no-cache-dir --no-deps --dest /tmp/wheels -c /opt/byoc/constraints.txt \
      tensorflow tensorflow-serving-api \
 && python3 /opt/byoc/extract_tf_protos.py /tmp/wheels/tensorflow-*.whl \
      /tmp/wheels/tensorflow_serving_api-*.whl /opt/byoc/tf-protos \
 && rm -rf /tmp/wheels

# --- The image.
FROM ${BASE_IMAGE}
ARG PIP_INDEX_URL=""
ARG PIP_FIND_LINKS=""
ARG PIP_NO_INDEX=""
ARG INFERENCE_REQUIREMENTS=""
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PYTHONUNBUFFERED=1

COPY requirements/constraints.txt requirements/serve.txt /opt/byoc/
# --no-deps like the DLC: tensorflow-serving-api's declared dependency is the whole of TensorFlow.
RUN python3 -m pip install --no-cache-dir -r /opt/byoc/serve.txt \
 && python3 -m pip install --no-cache-dir --no-deps -c /opt/byoc/constraints.txt tensorflow-serving-api \
 && if [ -n "${INFERENCE_REQUIREMENTS}" ]; then \
      python3 -m pip install --no-cache-dir -c /opt/byoc/constraints.txt ${INFERENCE_REQUIREMENTS}; \
    fi

COPY --from=tf-protos /opt/byoc/tf-protos/ /opt/byoc/tf-protos/
RUN cp -a /opt/byoc/tf-protos/tensorflow "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/" \
 && rm -rf /opt/byoc/tf-protos

COPY docker/build/entrypoint.sh /usr/local/bin/byoc-entrypoint
COPY docker/build/check_no_tensorflow.py /opt/byoc/
COPY pyproject.toml README.md /opt/byoc/src/
COPY serve_container/ /opt/byoc/src/serve_container/
RUN python3 -m pip install --no-cache-dir --no-deps /opt/byoc/src \
 && rm -rf /opt/byoc/src \
 && python3 -c "import flask, gunicorn, orjson, serve_container, tensorflow_serving.apis.prediction_service_pb2_grpc, tensorflow_serving.apis.model_service_pb2_grpc, tensorflow.core.example.example_pb2" \
 && python3 /opt/byoc/check_no_tensorflow.py \
 && command -v serve \
 && tensorflow_model_server --version

EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/byoc-entrypoint"]
CMD ["serve"]
