#!/usr/bin/env bash
# device-check.sh: the GPU checks in one call, for a GPU machine without Go
# or internet. It uses what `make device-bundle` put in .device/ on a CPU
# machine (the cnngpu binary, GPU test binaries built with `go test -c`,
# the MNIST files), writes full logs to the folder given as its argument,
# and prints a short table last.
#
#   scripts/device-check.sh OUTDIR
#
# Today it covers what exists of the GPU side: the driver, cuBLAS and cuDNN
# are found and the GPUs listed (cnngpu devices, cuda.test). The GPU engine's
# conformance, golden and speed checks join it as they land.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/device-check.sh OUTDIR}
mkdir -p "$out"
b=.device
declare -a rows
run() { # name, command...
	local name=$1; shift
	local start=$SECONDS
	if "$@" >"$out/$name.log" 2>&1; then r=ok; else r=FAIL; fi
	rows+=("$(printf '%-22s %-5s %4ss  %s' "$name" "$r" $((SECONDS - start)) "$out/$name.log")")
}
nvidia-smi >"$out/nvidia-smi.log" 2>&1 || true
run devices "$b/cnngpu" devices
run cuda-tests "$b/cuda.test" -test.v
run cpu-bench "$b/cnngpu" bench --cpu --steps 10
echo
echo "device check ($(date -u +%Y-%m-%dT%H:%M:%SZ)):"
head -1 "$out/devices.log"
printf '%s\n' "${rows[@]}"
