#!/bin/bash
# deps.sh - install what reclaimd needs to build and test, from Debian's repositories.
# Idempotent: installs only what is missing (apt-get update first, as a fresh machine needs).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config   # toolchain
  libinih-dev                        # configuration files
  libev-dev libsystemd-dev           # the service loop, sd_notify
  libmicrohttpd-dev                  # the /metrics endpoint
  systemd                            # systemd-analyze verify/security on the units
  systemd-container debootstrap      # boot test: the .deb under a real systemd in systemd-nspawn
  dpkg-dev debhelper fakeroot lintian rpm cpio  # the Debian and RPM packages and their checks
  libcmocka-dev                      # C unit tests
  python3                            # test oracles, benchmark twins (CPython baseline)
  time                               # GNU time: peak RSS of a benchmarked process
  valgrind                           # memcheck run of the suite
  clang libclang-rt-14-dev           # libFuzzer targets (fuzz/)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "deps: all present"
