#!/usr/bin/env bash
# make test-slurm: the editing pipeline on a real one-node Slurm cluster (tests/test_slurm.py).
# Needs root: it installs slurm-wlm and munge when they are missing, and the test starts
# munged, slurmctld and slurmd. It runs in a network namespace of its own, where only
# loopback exists, so the daemons cannot be reached from outside this machine.
set -euo pipefail
PY=${PY:-.venv/bin/python}
if [ "$(id -u)" != 0 ]; then
    echo "test-slurm: needs root (to install slurm-wlm and munge and start their daemons); nothing run"
    exit 0
fi
for tool in munged mungekey slurmctld slurmd sbatch squeue scancel sinfo ip unshare; do
    if ! command -v "$tool" > /dev/null; then
        echo "test-slurm: installing slurm-wlm and munge ($tool is missing)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge iproute2 > /dev/null
        break
    fi
done
# Slurm binds its ports with getaddrinfo(AI_ADDRCONFIG), which finds nothing while the only
# addresses are 127.0.0.1 and ::1; a private address on lo (in this namespace alone) is enough.
exec unshare --net -- bash -c 'ip link set lo up && ip addr add 10.254.254.254/32 dev lo &&
    TOKEDIT_SLURM=1 exec "$0" -m pytest \
    -o addopts="-p no:cacheprovider" -s -v --durations=5 tests/test_slurm.py' "$PY"
