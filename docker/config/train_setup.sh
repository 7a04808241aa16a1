#!/usr/bin/env bash
# Build-time setup of the training image for multi-host MPI (run once by docker/train.Dockerfile from the
# directory it copied docker/config/ to): sshd for root with a key baked into the image, an ssh client
# that trusts fresh hosts, OpenMPI defaults and NCCL defaults. Fails the build if any piece is missing.
#
# Why a key in the image: SageMaker starts every host of a job from the same image and gives them no
# shared secret; the training hosts sit in the job's private network (this is what the AWS DLCs do).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# --- sshd: port 22, root by key only; privilege-separation dir must exist before sshd starts.
mkdir -p /run/sshd /var/run/sshd /root/.ssh
chmod 700 /root/.ssh
ssh-keygen -A
[ -f /root/.ssh/id_ed25519 ] || ssh-keygen -q -t ed25519 -N "" -f /root/.ssh/id_ed25519
grep -qxF "$(cat /root/.ssh/id_ed25519.pub)" /root/.ssh/authorized_keys 2>/dev/null \
  || cat /root/.ssh/id_ed25519.pub >> /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
install -m 644 "$here/sshd_config" /etc/ssh/sshd_config
sed -i 's@session\s*required\s*pam_loginuid.so@session optional pam_loginuid.so@g' /etc/pam.d/sshd
grep -q "^session *optional *pam_loginuid.so" /etc/pam.d/sshd \
  || { echo "train_setup: /etc/pam.d/sshd has no pam_loginuid line to make optional" >&2; exit 1; }
install -m 600 "$here/ssh_config" /root/.ssh/config
/usr/sbin/sshd -t

# --- OpenMPI: system-wide MCA defaults in the sysconfdir of the mpirun on PATH
# (DLC: /usr/local/openmpi/etc, Debian: /etc/openmpi). Appended once, marked, so a rebuild is idempotent.
sysconfdir="$(ompi_info --parsable --path sysconfdir | sed -n 's/^path:sysconfdir://p')"
[ -n "$sysconfdir" ] || { echo "train_setup: ompi_info reported no sysconfdir" >&2; exit 1; }
mkdir -p "$sysconfdir"
params="$sysconfdir/openmpi-mca-params.conf"
if ! grep -q "BEGIN byoc" "$params" 2>/dev/null; then
  # Leading newline: Debian's file ends without one, and its last line must stay intact.
  { echo; echo "# BEGIN byoc (docker/config/mca-params.conf)"; cat "$here/mca-params.conf"; echo "# END byoc"; } \
    >> "$params"
fi
ompi_info --parsable --param btl vader --level 9 | grep -q "single_copy_mechanism" \
  || { echo "train_setup: OpenMPI has no btl vader; check mca-params.conf" >&2; exit 1; }

# --- NCCL reads /etc/nccl.conf at init; job environment variables override it.
install -m 644 "$here/nccl.conf" /etc/nccl.conf

echo "train_setup: sshd, ssh client, $params and /etc/nccl.conf configured"
