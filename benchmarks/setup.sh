#!/usr/bin/env bash
# Install the Debian packages the engine comparison needs (idempotent).
#
#   bash benchmarks/setup.sh
#
# Installs only what is missing: nginx (the local server), curl, wget2, aria2 (aria2c),
# hyperfine and valgrind (instructions.py). Runs `apt-get update` only when something has to be installed. The system nginx
# service is never started or enabled by this script: compare.py runs its own private nginx.
set -euo pipefail

# command -> Debian package
declare -A PACKAGES=(
    [nginx]=nginx
    [curl]=curl
    [wget2]=wget2
    [aria2c]=aria2
    [hyperfine]=hyperfine
    [valgrind]=valgrind
)

missing=()
for cmd in "${!PACKAGES[@]}"; do
    if ! command -v "$cmd" >/dev/null 2>&1 && ! test -x "/usr/sbin/$cmd"; then
        missing+=("${PACKAGES[$cmd]}")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "setup.sh: everything is installed already (nginx curl wget2 aria2c hyperfine valgrind)"
    exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    SUDO="sudo"
fi

echo "setup.sh: installing ${missing[*]}"
# policy-rc.d exit 101: do not let the nginx package start (or enable) the system service.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    created_policy=1
fi
cleanup() {
    if ((created_policy)); then
        $SUDO rm -f "$policy"
    fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup.sh: done"
