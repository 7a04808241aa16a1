# LOCAL stand-in for the SageMaker TensorFlow inference DLC, which cannot be pulled here. Shaped like it:
# the system Python has pip but NO TensorFlow (the DLC's TF Serving is a native binary), and the command
# `tensorflow_model_server` is our TF-Serving stand-in (docker/local/tfs_standin/) running from a private
# venv that nothing else sees. Built by dev/images.py on the rootfs image it imports with mmdebstrap.
ARG ROOTFS_IMAGE
FROM ${ROOTFS_IMAGE}

# pip source for this build: dev/images.py serves a host-side wheelhouse on loopback (the build runs with
# --network host), so no CA bundle or credential ever enters an image.
ARG PIP_FIND_LINKS=""
ARG PIP_NO_INDEX=""

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PYTHONUNBUFFERED=1

# The DLC's pip installs into the system Python; Debian's PEP 668 marker would refuse that.
RUN rm -f /usr/lib/python3*/EXTERNALLY-MANAGED

COPY requirements/constraints.txt /opt/tfs-standin/constraints.txt
COPY docker/local/tfs_standin/requirements.txt /opt/tfs-standin/requirements.txt
RUN python3 -m venv /opt/tfs-standin/venv \
 && /opt/tfs-standin/venv/bin/pip install --no-cache-dir -c /opt/tfs-standin/constraints.txt \
      -r /opt/tfs-standin/requirements.txt tensorflow tensorflow-serving-api grpcio protobuf numpy

COPY docker/local/tfs_standin/ /opt/tfs-standin/app/
RUN printf '%s\n' '#!/bin/sh' \
      '# TF Serving stand-in (local test base only): same flags as the real tensorflow_model_server.' \
      'exec /opt/tfs-standin/venv/bin/python /opt/tfs-standin/app/server.py "$@"' \
      > /usr/local/bin/tensorflow_model_server \
 && chmod 0755 /usr/local/bin/tensorflow_model_server \
 && TF_CPP_MIN_LOG_LEVEL=2 tensorflow_model_server --version \
 && if python3 -c "import tensorflow" 2>/dev/null; then echo "system python must not have TensorFlow" >&2; exit 1; fi
