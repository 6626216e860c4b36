#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite: unit, integration (gRPC mTLS with
# SoftHSM2), end-to-end (real sshd), the same suite under ASan+UBSan, and a short libFuzzer run
# of every parser of untrusted bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

echo "== build (default preset)"
./scripts/build.sh default
echo "== tests"
ctest --preset default -j"$(nproc)"

echo "== build (asan preset: AddressSanitizer + UndefinedBehaviorSanitizer)"
./scripts/build.sh asan
echo "== tests under ASan+UBSan"
ctest --preset asan -j"$(nproc)"

echo "== fuzz targets (clang + libFuzzer), ${WARDEN_FUZZ_SECONDS:-10}s each"
./scripts/build.sh fuzz
./scripts/fuzz.sh "${WARDEN_FUZZ_SECONDS:-10}"
