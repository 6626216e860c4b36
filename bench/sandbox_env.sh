# Sourced by the benchmarks that run real parts (bench/*_bench.sh): scripts/sandbox.sh, with
# WARDEN_BIN defaulting to this tree's default build, and its processes and files cleaned up on
# exit.
: "${WARDEN_BIN:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/default}"
export WARDEN_BIN
# shellcheck source=../scripts/sandbox.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/sandbox.sh"
trap sandbox_cleanup EXIT
