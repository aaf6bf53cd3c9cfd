#!/usr/bin/env bash
# device-check.sh: the GPU checks in one call, for a GPU machine without Go
# or internet. It uses what `make device-bundle` put in .device/ on a CPU
# machine (the cnngpu binary, GPU test binaries built with `go test -c`,
# the MNIST files), writes full logs to the folder given as its argument,
# and prints a short table last.
#
#   scripts/device-check.sh OUTDIR
#
# It runs: cnngpu devices; the ABI check of our own declarations against
# the real CUDA, cuBLAS and cuDNN headers (scripts/abi-check.sh); the cuda binding's tests; the GPU engine's
# conformance suite and the CPU-vs-GPU golden test (enginecuda.test); the
# benchmark table against PyTorch (scripts/bench-gpu.sh); and one 10-epoch
# training run on real MNIST (.device/mnist, which make device-bundle fills).
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
if command -v cc >/dev/null; then
	run abi-check scripts/abi-check.sh
fi
run cuda-tests "$b/cuda.test" -test.v
run engine-tests "$b/enginecuda.test" -test.v
run bench-gpu env CNNGPU="$b/cnngpu" STEPS=100 scripts/bench-gpu.sh
if [ -d "$b/mnist" ]; then
	run train-10-epochs "$b/cnngpu" train --device 0 --data "$b/mnist" --out "$out/model.safetensors"
fi
echo
echo "device check ($(date -u +%Y-%m-%dT%H:%M:%SZ)):"
head -1 "$out/devices.log"
tail -1 "$out/abi-check.log" 2>/dev/null
grep -h "test accuracy" "$out"/train-10-epochs.log 2>/dev/null
grep -h -E "^(---|ok|FAIL)" "$out"/engine-tests.log 2>/dev/null | head -12
cat "$out/bench-gpu.log" 2>/dev/null
printf '%s\n' "${rows[@]}"
