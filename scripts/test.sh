#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite: unit, integration (gRPC mTLS with
# SoftHSM2), end-to-end (real sshd), the same suite under ASan+UBSan, and a short libFuzzer run
# of every parser of untrusted bytes.
#
# The next preset builds at the lowest CPU priority while the tests of the previous one run (they
# spend most of their time waiting on sshd, timers and sockets), which keeps the whole run short.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
mkdir -p build

# build_behind PRESET: builds PRESET in the background at nice 19; its log in build/PRESET.log.
build_behind() {
  nice -n 19 ./scripts/build.sh "$1" >"build/$1.log" 2>&1 &
  BEHIND_PID=$!
  BEHIND_PRESET=$1
}
# build_wait: waits for the background build; on failure shows its log and stops.
build_wait() {
  if ! wait "$BEHIND_PID"; then
    cat "build/$BEHIND_PRESET.log"
    echo "build of the $BEHIND_PRESET preset failed" >&2
    exit 1
  fi
}

echo "== build (default preset)"
./scripts/build.sh default
echo "== tests (the asan preset builds meanwhile)"
build_behind asan
ctest --preset default -j"$(nproc)"
build_wait

echo "== tests under ASan+UBSan (the fuzz preset builds meanwhile)"
build_behind fuzz
ctest --preset asan -j"$(nproc)"
build_wait

echo "== fuzz targets (clang + libFuzzer), ${WARDEN_FUZZ_SECONDS:-10}s each"
./scripts/fuzz.sh "${WARDEN_FUZZ_SECONDS:-10}"
