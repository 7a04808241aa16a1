# SageMaker training image: the AWS TensorFlow training DLC + Horovod (built here: the DLC ships none after
# TF 2.12) + sshd/MPI configuration + our `train` entrypoint. `docker run IMAGE train` is how SageMaker runs it.
#
# BASE_IMAGE: tags live in docker/base_images.json (unit-tested to match this default). GPU build:
#   --build-arg BASE_IMAGE=<...:2.16.2-gpu-py310-cu123-ubuntu20.04-sagemaker> --build-arg HOROVOD_GPU_OPERATIONS=NCCL
# (the GPU DLC has CUDA, NCCL and nvcc; not testable on this project's CPU-only machines).
ARG BASE_IMAGE=763104351884.dkr.ecr.us-west-2.amazonaws.com/tensorflow-training:2.16.2-cpu-py310-ubuntu20.04-sagemaker
FROM ${BASE_IMAGE}

# Standard pip source overrides (mirror, wheelhouse, air-gapped builds); empty means PyPI.
ARG PIP_INDEX_URL=""
ARG PIP_FIND_LINKS=""
ARG PIP_NO_INDEX=""
ARG HOROVOD_GPU_OPERATIONS=""

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PYTHONUNBUFFERED=1 \
    TF_USE_LEGACY_KERAS=1

# Horovod's build needs a C++ compiler, cmake and MPI headers; the DLCs have them, so apt runs only if not.
RUN missing=""; \
    command -v g++ >/dev/null || missing="$missing g++"; \
    command -v cmake >/dev/null || missing="$missing cmake"; \
    command -v make >/dev/null || missing="$missing make"; \
    command -v mpicxx >/dev/null || missing="$missing libopenmpi-dev openmpi-bin"; \
    command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || missing="$missing openssh-server openssh-client"; \
    if [ -n "$missing" ]; then \
      echo "installing missing build deps:$missing"; \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing \
      && rm -rf /var/lib/apt/lists/*; \
    fi

# Horovod first, in its own early layers: a ~10 min compile that no change of our code or config invalidates.
COPY requirements/constraints.txt /opt/byoc/constraints.txt
RUN python3 -m pip install --no-cache-dir -c /opt/byoc/constraints.txt \
      setuptools wheel packaging psutil pyyaml cloudpickle
# Local builds only: their wheelhouse carries a Horovod wheel compiled on the host for this exact base (same
# Python, TF, MPI), which pip prefers to the sdist; its sha256 here keys the layer cache on it. Empty (the DLC
# builds) means pip compiles the sdist.
ARG HOROVOD_WHEEL_SHA256=""
RUN HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_MPI=1 HOROVOD_WITH_GLOO=1 \
    HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
    HOROVOD_GPU_OPERATIONS="${HOROVOD_GPU_OPERATIONS}" \
    MAKEFLAGS="-j$(nproc)" \
    python3 -m pip install --no-cache-dir --no-build-isolation \
      -c /opt/byoc/constraints.txt horovod \
 && horovodrun --check-build

COPY requirements/train.txt /opt/byoc/requirements-train.txt
RUN python3 -m pip install --no-cache-dir -r /opt/byoc/requirements-train.txt \
 && python3 -c "import mpi4py.MPI as MPI; print(MPI.Get_library_version().splitlines()[0])"

# Processing jobs (launch process / pipeline) run scripts.prepare_data and scripts.evaluate in this image. The
# DLC ships what they import (requirements/processing.txt); pip adds, pinned, only what a base lacks.
COPY requirements/dev-constraints.txt requirements/processing.txt docker/build/missing_requirements.py /opt/byoc/
RUN missing="$(python3 /opt/byoc/missing_requirements.py /opt/byoc/processing.txt)"; \
    if [ -n "$missing" ]; then \
      echo "installing what the base lacks: $missing"; \
      python3 -m pip install --no-cache-dir -c /opt/byoc/dev-constraints.txt $missing; \
    fi \
 && python3 -c "import PIL, tqdm, matplotlib, sklearn"

# sshd keys/config for multi-host MPI, MCA params, nccl.conf (see docker/config/).
COPY docker/config/ /opt/byoc/config/
RUN bash /opt/byoc/config/train_setup.sh

COPY docker/build/entrypoint.sh /usr/local/bin/byoc-entrypoint
COPY pyproject.toml README.md /opt/byoc/src/
COPY train_container/ /opt/byoc/src/train_container/
# Script mode: every Python process patches Horovod's Keras API for tf_keras as it is imported (a .pth line runs
# at interpreter start), so a user's unmodified `horovod.tensorflow.keras` script works on TF 2.16.
RUN python3 -m pip install --no-cache-dir --no-deps /opt/byoc/src \
 && rm -rf /opt/byoc/src \
 && site="$(python3 -c 'import os, train_container; print(os.path.dirname(os.path.dirname(train_container.__file__)))')" \
 && echo "import train_container.horovod_compat as _byoc; _byoc.install_import_hook()" > "$site/byoc-horovod-compat.pth" \
 && TF_CPP_MIN_LOG_LEVEL=2 python3 -c "import tensorflow, horovod.tensorflow, train_container" \
 && TF_CPP_MIN_LOG_LEVEL=2 python3 -c "import tf_keras, horovod.tensorflow.keras as hvd; assert hvd.K is tf_keras.backend" \
 && python3 -c "import boto3" \
 && command -v train \
 && /usr/sbin/sshd -t

# The Processing programs, run as `python3 -m scripts.prepare_data|evaluate`. A .pth entry appends their folder to
# sys.path after site-packages, so a user's own `scripts` package (script mode) still comes first.
COPY scripts/__init__.py scripts/config.py scripts/prepare_data.py scripts/evaluate.py /opt/byoc/processing/scripts/
RUN site="$(python3 -c 'import os, train_container; print(os.path.dirname(os.path.dirname(train_container.__file__)))')" \
 && echo /opt/byoc/processing > "$site/byoc-processing.pth" \
 && cd / && TF_CPP_MIN_LOG_LEVEL=2 python3 -m scripts.prepare_data --help >/dev/null \
 && python3 -m scripts.evaluate --help >/dev/null

WORKDIR /opt/ml/code
ENTRYPOINT ["/usr/local/bin/byoc-entrypoint"]
CMD ["train"]
