#!/usr/bin/env bash
# device-check.sh: the GPU checks in one call, for a GPU machine without Go
# or internet. It uses what `make device-bundle` put in .device/ on a CPU
# machine (the cnngpu binary, GPU test binaries built with `go test -c`,
# the MNIST files), writes full logs to the folder given as its argument
# (eight files at most), and prints a short table last.
#
#   scripts/device-check.sh OUTDIR
#
# It runs: cnngpu devices (with nvidia-smi); the ABI check of our own
# declarations against the real CUDA, cuBLAS and cuDNN headers
# (scripts/abi-check.sh); the cuda binding's tests; the GPU engine's
# conformance suite and the CPU-vs-GPU golden test (enginecuda.test; its
# emulated-device tests are skipped here, CI runs them), each
# with both kernel sets (CNNGPU_KERNELS=library|own) and with the own set on
# two streams (CNNGPU_STREAMS=2), a process for each; one 10-epoch training run on real MNIST
# (.device/mnist) in each of those three variants, rerun in debug mode
# (CNNGPU_DEBUG=1) if it fails; the benchmark table against
# PyTorch (scripts/bench-gpu.sh); and, where Nsight Compute is installed,
# the device time of each kernel of training steps at batch 128 with each
# kernel set (profile.log).
# Each step has a time limit, so one hang does not
# eat the rest.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/device-check.sh OUTDIR}
mkdir -p "$out"
b=.device
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -a rows
run() { # name, seconds, command... (LOG=file: append to $out/file.log instead of $out/name.log)
	local name=$1 limit=$2
	shift 2
	local start=$SECONDS r log=${LOG:-$name}
	if timeout -k 5 "$limit" "$@" >>"$out/$log.log" 2>&1; then r=ok; else r="FAIL($?)"; fi
	rows+=("$(printf '%-20s %-9s %4ss' "$name" "$r" $((SECONDS - start)))")
	[ "${r}" = ok ]
}
{ uname -r; nvidia-smi; nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv; } >"$out/devices.log" 2>&1 || true
run devices 30 "$b/cnngpu" devices
if command -v cc >/dev/null; then
	run abi-check 60 scripts/abi-check.sh
fi
run cuda-tests 60 "$b/cuda.test" -test.v
# One process a variant: a kernel fault leaves a process's CUDA context
# unusable, and should cost only that variant's results.
LOG=engine-tests run engine-library 120 env CNNGPU_MNIST="$b/mnist" CNNGPU_TEST_VARIANTS=library "$b/enginecuda.test" -test.v -test.skip Emulated -test.timeout 110s
LOG=engine-tests run engine-own 90 env CNNGPU_MNIST="$b/mnist" CNNGPU_TEST_VARIANTS=own "$b/enginecuda.test" -test.v -test.run 'Conformance|Golden' -test.skip Emulated -test.timeout 80s
LOG=engine-tests run engine-own-2streams 90 env CNNGPU_MNIST="$b/mnist" "CNNGPU_TEST_VARIANTS=own, 2 streams" "$b/enginecuda.test" -test.v -test.run 'Conformance|Golden' -test.skip Emulated -test.timeout 80s
if [ -d "$b/mnist" ]; then
	for v in library:1 own:1 own:2; do
		ks=${v%:*} st=${v#*:}
		if ! LOG=train-10-epochs run "train-$ks-$st" 120 env CNNGPU_KERNELS=$ks CNNGPU_STREAMS=$st "$b/cnngpu" train --device 0 --data "$b/mnist" --out "$tmp/model.safetensors"; then
			LOG=train-10-epochs run "train-debug-$ks-$st" 60 env CNNGPU_KERNELS=$ks CNNGPU_STREAMS=$st CNNGPU_DEBUG=1 "$b/cnngpu" train --device 0 --data "$b/mnist" --epochs 1 --out "$tmp/debug.safetensors"
		fi
	done
fi
# Per-kernel device times of training steps at batch 128 (Nsight Compute,
# clocks left as they are), when ncu is there.
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ -n "$ncu" ] && [ "${NCU:-1}" = 1 ]; then
	for ks in library own; do
		LOG=profile run "profile-$ks" 120 env CNNGPU_KERNELS=$ks CNNGPU_STREAMS=1 "$ncu" --clock-control none --metrics gpu__time_duration.sum --csv --launch-skip 700 --launch-count 100 \
			"$b/cnngpu" bench --device 0 --batch-size 128 --steps 30 --warmup 10
	done
fi
run bench-gpu 200 env CNNGPU="$b/cnngpu" PYTORCH_LOG=/dev/stderr scripts/bench-gpu.sh
# TUNE=1: then the study of issue 4 (the default 36-configuration grid)
# on GPU 0 for what time is left before DEADLINE seconds (default 600);
# interrupted, it keeps the finished runs. Study folder and log go to
# tune.tar.gz.
if [ "${TUNE:-0}" = 1 ] && [ -d "$b/mnist" ]; then
	left=$((${DEADLINE:-600} - SECONDS - 10))
	if [ $left -gt 30 ]; then
		start=$SECONDS
		timeout -s INT -k 10 "$left" "$b/cnngpu" tune --device 0 --data "$b/mnist" --out "$tmp/tune" >"$tmp/tune.log" 2>&1
		rc=$?
		mkdir -p "$tmp/tune"
		mv "$tmp/tune.log" "$tmp/tune/"
		tar -czf "$out/tune.tar.gz" -C "$tmp" tune
		rows+=("$(printf '%-20s %-9s %4ss' tune "rc=$rc" $((SECONDS - start)))")
	fi
fi
echo
echo "device check ($(date -u +%Y-%m-%dT%H:%M:%SZ)):"
grep -m1 "^GPU" "$out/devices.log"
tail -1 "$out/abi-check.log" 2>/dev/null
grep -h -E "^(--- |ok|FAIL|panic)" "$out"/cuda-tests.log "$out"/engine-tests.log 2>/dev/null | head -40
grep -h -E "largest relative|differ|drifts|did not learn" "$out"/engine-tests.log 2>/dev/null
grep -h -E "^engine|test accuracy|rror" "$out"/train-10-epochs.log 2>/dev/null | tail -12
grep -v "^bench-gpu:" "$out/bench-gpu.log" 2>/dev/null | tail -22
# One step's kernels per kernel set: totals here, the whole table with
# scripts/profile_table.py profile.log.
[ -f "$out/profile.log" ] && python3 scripts/profile_table.py "$out/profile.log" 2>/dev/null | grep "^profile"
[ -f "$out/tune.tar.gz" ] && tar -xzOf "$out/tune.tar.gz" tune/tune.log | tail -5
printf '%s\n' "${rows[@]}"
