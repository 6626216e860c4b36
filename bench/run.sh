#!/usr/bin/env bash
# Builds and runs the benchmarks. Usage: bench/run.sh [SECONDS_PER_ROW]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >/dev/null
./scripts/build.sh default >/dev/null
./build/default/bench/issuance_bench "${1:-5}"
echo
./build/default/bench/vault_bench "${1:-5}"
echo
./build/default/bench/db_bench 10000
echo
./build/default/bench/siem_bench 200000 10
echo
./build/default/bench/coverage_bench 2000 1000
echo
./build/default/bench/nss_bench ./build/default/nss_module/libnss_warden.so.2
echo
./bench/host_bench.sh 100 10
echo
./build/default/bench/lease_end_bench 1000 100
echo
./bench/sshgw_bench.sh 400 100
echo
./bench/rdpgw_bench.sh 200 25
echo
# Session recording (BPF, needs root). The compiler run is one of this project's own files.
./build/default/bench/recording_bench 512 \
  "c++ -std=c++20 -O2 -I$PWD -I$PWD/build/default/proto/gen -c $PWD/cli/replay.cc -o /dev/null" 2>&1 |
  grep -v ' wardend: recording'
