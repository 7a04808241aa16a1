# LOCAL stand-in for the SageMaker TensorFlow training DLC, which cannot be pulled here.
# It provides only what docker/train.Dockerfile relies on from the DLC: a system Python whose pip installs
# system-wide, the pinned TF stack, OpenMPI (mpirun on PATH), openssh server/client, the tools to compile
# Horovod, the DLC's Pillow, matplotlib, scikit-learn and tqdm (requirements/processing.txt) and its toolkit's
# paramiko (requirements/dlc-toolkit.txt). Built by dev/images.py on the rootfs image it imports with mmdebstrap.
ARG ROOTFS_IMAGE
FROM ${ROOTFS_IMAGE}

# pip source for this build: dev/images.py serves a host-side wheelhouse on loopback (the build runs with
# --network host), so no CA bundle or credential ever enters an image.
ARG PIP_FIND_LINKS=""
ARG PIP_NO_INDEX=""

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake g++ make python3-dev \
      libopenmpi-dev openmpi-bin \
      openssh-client openssh-server \
 && rm -rf /var/lib/apt/lists/*

# The DLC's pip installs into the system Python; Debian's PEP 668 marker would refuse that.
RUN rm -f /usr/lib/python3*/EXTERNALLY-MANAGED

COPY requirements/constraints.txt /tmp/byoc/constraints.txt
RUN python3 -m pip install --no-cache-dir -c /tmp/byoc/constraints.txt \
      tensorflow tf-keras numpy protobuf \
 && rm -rf /tmp/byoc \
 && TF_CPP_MIN_LOG_LEVEL=2 python3 -c "import tensorflow as tf; assert tf.__version__ == '2.16.2', tf.__version__" \
 && mpirun --version | head -1 && command -v sshd ssh

# The DLC ships these (Processing jobs use them); a later layer, so the TF layer above stays cached.
COPY requirements/constraints.txt requirements/dev-constraints.txt requirements/processing.txt /tmp/byoc/
RUN python3 -m pip install --no-cache-dir -r /tmp/byoc/processing.txt \
 && rm -rf /tmp/byoc \
 && python3 -c "import PIL, tqdm, matplotlib, sklearn"

# The DLC's sagemaker-training toolkit brings paramiko, which the SDK v3 ModelTrainer's MPI driver imports.
COPY requirements/constraints.txt requirements/dev-constraints.txt requirements/dlc-toolkit.txt /tmp/byoc/
RUN python3 -m pip install --no-cache-dir -r /tmp/byoc/dlc-toolkit.txt \
 && rm -rf /tmp/byoc \
 && python3 -c "import paramiko"
