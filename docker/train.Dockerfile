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

# sshd keys/config for multi-host MPI, MCA params, nccl.conf (see docker/config/).
COPY docker/config/ /opt/byoc/config/
RUN bash /opt/byoc/config/train_setup.sh

COPY docker/build/entrypoint.sh /usr/local/bin/byoc-entrypoint
COPY pyproject.toml README.md /opt/byoc/src/
COPY train_container/ /opt/byoc/src/train_container/
RUN python3 -m pip install --no-cache-dir --no-deps /opt/byoc/src \
 && rm -rf /opt/byoc/src \
 && TF_CPP_MIN_LOG_LEVEL=2 python3 -c "import tensorflow, horovod.tensorflow, train_container" \
 && command -v train \
 && /usr/sbin/sshd -t

WORKDIR /opt/ml/code
ENTRYPOINT ["/usr/local/bin/byoc-entrypoint"]
CMD ["train"]
