#!/usr/bin/env bash
# device-check.sh: the GPU checks in one call, for a GPU machine without Go
# or internet. It uses what `make device-bundle` put in .device/ on a CPU
# machine (the cnngpu binary, GPU test binaries built with `go test -c`,
# the MNIST files), writes full logs to the folder given as its argument
# (nine files at most), and prints a short table last.
#
#   scripts/device-check.sh OUTDIR
#
# It runs: cnngpu devices (with nvidia-smi); the ABI check of our own
# declarations against the real CUDA, cuBLAS and cuDNN headers
# (scripts/abi-check.sh); the cuda binding's tests; the GPU engine's
# conformance suite and the CPU-vs-GPU golden test (enginecuda.test; its
# emulated-device tests are skipped here, CI runs them), each
# with both kernel sets (CNNGPU_KERNELS=library|own) and with the own set on
# two streams (CNNGPU_STREAMS=2) and three (=3), and the other variants
# VARIANTS names, a process for each; 10-epoch training runs on real MNIST
# (.device/mnist) in the variants TRAIN names, each with the phase table
# of CNNGPU_TRACE=1 (in train-10-epochs.log; the summary shows the last,
# the default variant's), rerun in debug mode
# (CNNGPU_DEBUG=1) if it fails; the benchmark table against
# PyTorch (scripts/bench-gpu.sh); and, where Nsight Compute is installed,
# the device time of each kernel of training steps at batch 128 with each
# kernel set (profile.log). Environment variables choose parts, each
# explained where it is read below: VARIANTS, TRAIN, STARTUP,
# STARTUP_PYTORCH, STARTUP_PRIORITY, PREDICT_AB, NCU, NCU_SETS, SEEDS,
# SEED_FLAGS, PYTORCH_SEEDS, BENCH, AB, AB_SIZES, CONV_AB, DENSE_AB,
# PRIORITY_AB, PRIORITY_TESTS, PRIORITY_MODES, HEAD_AB, DEFER_AB,
# FUSEDUPD_AB, NOUPD_AB, STREAMS3_AB, PRELOAD_AB, BESIDE_AB, RECIPE_AB,
# TIMELINE, TIMELINE_STREAMS, TUNE, TUNE_JOBS, DEADLINE.
# Each step has a time limit, so one hang does not
# eat the rest.
set -uo pipefail
if [ $# -ne 1 ]; then
	echo "usage: scripts/device-check.sh OUTDIR (after make device-bundle; see docs/testing.md)" >&2
	exit 2
fi
out=$(realpath -m -- "$1") # (from where it was called; AB= and the rest from the repository)
cd "$(dirname "$0")/.."
b=.device
if [ ! -e "$b/cnngpu.gz" ] && [ ! -x "$b/cnngpu" ]; then
	echo "scripts/device-check.sh: no $b/cnngpu here: run make device-bundle first (on a machine with Go), and carry $b" >&2
	exit 2
fi
mkdir -p "$out"
tmp=$(mktemp -d)
# make device-bundle carries the binaries gzipped (the carry limit): each
# is unpacked beside its .gz for this run and removed at its end, so that
# a run here does not leave .device too large to carry.
# (Killed or interrupted, the script still ends through its EXIT trap.)
unpacked=()
trap 'rm -rf "$tmp"; rm -f ${unpacked[@]+"${unpacked[@]}"}' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
for f in "$b"/*.gz; do
	[ -e "$f" ] || continue
	unpacked+=("${f%.gz}") # (a gunzip cut short leaves part of it)
	gunzip -f -k "$f" && chmod +x "${f%.gz}"
done
declare -a rows
# run: name, seconds, command... (LOG=file: append to $out/file.log
# instead of $out/name.log, as the output comes). Its row says ok,
# FAIL(exit status), or SKIP where a GPU test was skipped for want of a
# GPU (the test binaries' message "no GPU on this machine").
run() {
	local name=$1 limit=$2
	shift 2
	local start=$SECONDS r log=${LOG:-$name}
	timeout -k 5 "$limit" "$@" 2>&1 | tee -a "$out/$log.log" >"$tmp/step.log"
	r=${PIPESTATUS[0]}
	if [ "$r" = 0 ]; then r=ok; else r="FAIL($r)"; fi
	if [ "$r" = ok ] && grep -q -- 'no GPU on this machine' "$tmp/step.log"; then
		r=SKIP
	fi
	rows+=("$(printf '%-20s %-9s %4ss' "$name" "$r" $((SECONDS - start)))")
	[ "${r}" = ok ]
}
{ uname -r; nvidia-smi; nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv; } >"$out/devices.log" 2>&1 || true
if ! run devices 30 "$b/cnngpu" devices; then
	# Every GPU step would fail the same way (25 FAIL rows): say it once.
	printf '%s\n' "${rows[@]}"
	echo "scripts/device-check.sh: no GPU works here ($out/devices.log says why): the other steps need one" >&2
	exit 1
fi
if command -v cc >/dev/null; then
	run abi-check 60 scripts/abi-check.sh
fi
run cuda-tests 60 "$b/cuda.test" -test.v
# One process a variant: a kernel fault leaves a process's CUDA context
# unusable, and should cost only that variant's results.
# VARIANTS ("|" between names): the variants whose conformance and golden
# tests run (the first also runs the cross-check against cuDNN's own
# calls and the dataset shared between engines); TRAIN: the kernels:streams[:conv[:dense]] variants trained for
# 10 epochs (conv: CNNGPU_CONV, default timed; dense: CNNGPU_DENSE,
# default timed).
# "none" in either skips that part.
IFS='|' read -r -a vs <<<"${VARIANTS:-library|own|own, 2 streams|library, 2 streams|own convolutions, 2 streams|cuBLASLt dense, 2 streams|own, 3 streams|fused update, 2 streams}"
[ "${vs[*]}" = none ] && vs=()
first=1
for v in "${vs[@]}"; do
	tests='Conformance|Golden'
	# The tests that need a real GPU (the rest run on the emulated device
	# or the fake libraries, in CI, and take minutes).
	[ $first = 1 ] && tests='CuDNNAgrees|Conformance|Golden|GPUSharedDataset'
	first=0
	LOG=engine-tests run "engine-${v//[ ,]/}" 120 env CNNGPU_MNIST="$b/mnist" "CNNGPU_TEST_VARIANTS=$v" "$b/enginecuda.test" -test.v -test.run "$tests" -test.skip Emulated -test.timeout 110s
done
# PRIORITY_AB=1 (the default): the default variant's conformance and
# golden tests again with CNNGPU_PRIORITY set to each of PRIORITY_TESTS
# (unset: "lanes"; "main" passed in run 18; set empty: none), whose steps
# the "prio-MODE" sides of the alternating runs below time, one for each
# of PRIORITY_MODES (unset or empty: "main lanes").
# HEAD_AB=1 (the default): the default variant's conformance and golden
# tests again with CNNGPU_HEAD=0, whose steps the "nohead" side below
# times.
if [ "${HEAD_AB:-1}" = 1 ]; then
	LOG=engine-tests run "engine-head0" 120 env CNNGPU_HEAD=0 CNNGPU_MNIST="$b/mnist" "CNNGPU_TEST_VARIANTS=own, 2 streams" "$b/enginecuda.test" -test.v -test.run 'Conformance|Golden' -test.skip Emulated -test.timeout 110s
fi
# FUSEDUPD_AB=1 (the default): the variant "fused update, 2 streams"
# (CNNGPU_DENSE_UPDATE=fused: dense1's weight gradient and update in one
# kernel, dense_wgrad_adam) too, where the variants above did not include
# it (none with VARIANTS=none), whose steps the "fusedupd" side below
# times.
if [ "${FUSEDUPD_AB:-1}" = 1 ] && [ ${#vs[@]} -gt 0 ] && [[ "|$(IFS='|'; echo "${vs[*]}")|" != *"|fused update, 2 streams|"* ]]; then
	LOG=engine-tests run "engine-fusedupd" 120 env CNNGPU_MNIST="$b/mnist" "CNNGPU_TEST_VARIANTS=fused update, 2 streams" "$b/enginecuda.test" -test.v -test.run 'Conformance|Golden' -test.skip Emulated -test.timeout 110s
fi
if [ "${PRIORITY_AB:-1}" = 1 ]; then
	for m in ${PRIORITY_TESTS-lanes}; do
		LOG=engine-tests run "engine-priority-$m" 120 env CNNGPU_PRIORITY=$m CNNGPU_MNIST="$b/mnist" "CNNGPU_TEST_VARIANTS=own, 2 streams" "$b/enginecuda.test" -test.v -test.run 'Conformance|Golden' -test.skip Emulated -test.timeout 110s
	done
fi
if [ -d "$b/mnist" ] && [ "${TRAIN:-}" != none ]; then
	for v in ${TRAIN:-library:1 own:1 own:2:timed:cublaslt own:2:own own:2}; do
		IFS=: read -r ks st conv dense <<<"$v"
		conv=${conv:-timed} dense=${dense:-timed}
		name=$ks-$st-$conv
		[ "$dense" = timed ] || name=$name-$dense
		if ! LOG=train-10-epochs run "train-$name" 120 env CNNGPU_TRACE=1 CNNGPU_KERNELS=$ks CNNGPU_STREAMS=$st CNNGPU_CONV=$conv CNNGPU_DENSE=$dense "$b/cnngpu" train --device 0 --data "$b/mnist" --out "$tmp/model.safetensors"; then
			LOG=train-10-epochs run "train-debug-$name" 60 env CNNGPU_KERNELS=$ks CNNGPU_STREAMS=$st CNNGPU_CONV=$conv CNNGPU_DENSE=$dense CNNGPU_DEBUG=1 "$b/cnngpu" train --device 0 --data "$b/mnist" --epochs 1 --out "$tmp/debug.safetensors"
		fi
	done
fi
# STARTUP=1 (the default): what a user waits for, process start to the
# final line, of the default run (data from the cache, as a user's: each
# side's cache folder starts with .device/mnist's .gz files, so that the
# first run makes the uncompressed copies and the later ones read them):
# once with no remembered cuDNN choices (a fresh cache folder:
# a machine's first run), then five times (the choices remembered), each
# with CNNGPU_TRACE=1, into train-10-epochs.log; with AB=OLD_BINARY the
# old build's five runs alternate with the new one's (and, with
# PRELOAD_AB=1, the default, with the new one's with CNNGPU_PRELOAD=0;
# with BESIDE_AB=1, the default, with CNNGPU_CUDNN_BESIDE=0 and
# =recorded; with RECIPE_AB=1, the default, with the recipe before
# 2026-12-05's: --augment shift:2 --label-smoothing 0).
# Then PyTorch's
# whole training step as a CUDA graph (scripts/pytorch_reference.py) over
# 4,690 steps, 10 epochs at batch 128, as one process's wall time. The
# summary has the first run, the median of the five and PyTorch's.
if [ "${STARTUP:-1}" = 1 ] && [ -d "$b/mnist" ]; then
	start=$SECONDS
	wall() { # label, command...: the command's wall time, from fork to exit, and to its final line
		local label=$1 t0=$EPOCHREALTIME
		shift
		echo "== startup $label: $*" >>"$out/train-10-epochs.log"
		# Each line with the time it arrived; the final line is the last
		# one before the trace's table (or the last one).
		timeout 120 "$@" 2>&1 | while IFS= read -r l; do printf '%s\t%s\n' "$EPOCHREALTIME" "$l"; done >"$tmp/lines"
		local rc=${PIPESTATUS[0]} t1=$EPOCHREALTIME
		cut -f2- "$tmp/lines" >>"$out/train-10-epochs.log"
		local tf
		tf=$(awk -F '\t' '$2 ~ /^cnngpu trace:/ { exit } { t = $1 } END { print t }' "$tmp/lines")
		python3 -c "print(f'startup-wall: $label {$t1 - $t0:.3f} rc=$rc'); print(f'startup-final: $label {${tf:-$t1} - $t0:.3f} rc=$rc')" >>"$out/train-10-epochs.log"
	}
	for side in new ${AB:+old}; do
		bin=$b/cnngpu
		[ $side = old ] && bin=$AB
		mkdir -p "$tmp/cache-$side/cnngpu/mnist" && cp "$b"/mnist/*.gz "$tmp/cache-$side/cnngpu/mnist/"
		wall "first-$side" env XDG_CACHE_HOME="$tmp/cache-$side" CNNGPU_TRACE=1 "$bin" train --device 0 --out "$tmp/startup.safetensors"
	done
	# PRELOAD_AB=1 (the default) adds a third side: this build with
	# CNNGPU_PRELOAD=0 (cuBLAS and cuDNN opened after the context, not
	# beside it), on this build's warm cache folder.
	# BESIDE_AB=1 (the default) adds two more: CNNGPU_CUDNN_BESIDE=0
	# (cuDNN's first call waited for, not made beside the first steps on
	# our convolution kernels) and =recorded (made beside from the first
	# replay of the recorded step, the default of run 19's build; the
	# default is the first use of the convolution's gradient, inside the
	# first training step).
	# RECIPE_AB=1 (the default) another: this build with the recipe
	# before 2026-12-05's (--augment shift:2 --label-smoothing 0), for
	# what the images' turns and resizing cost.
	# STARTUP_PRIORITY=MODE adds another: CNNGPU_PRIORITY=MODE.
	# STREAMS3_AB=1 (the default) another: CNNGPU_STREAMS=3.
	pre= nob= pri= s3=
	[ "${PRELOAD_AB:-1}" = 1 ] && pre=nopre
	[ "${BESIDE_AB:-1}" = 1 ] && nob="nobeside recorded"
	rec=
	[ "${RECIPE_AB:-1}" = 1 ] && rec=oldrecipe
	[ -n "${STARTUP_PRIORITY:-}" ] && pri=prio-$STARTUP_PRIORITY
	[ "${STREAMS3_AB:-1}" = 1 ] && s3=streams3
	# Its choices are remembered under its own variant: its first run
	# apart, as each side's above.
	[ -n "$s3" ] && wall "first-streams3" env XDG_CACHE_HOME="$tmp/cache-new" CNNGPU_STREAMS=3 CNNGPU_TRACE=1 "$b/cnngpu" train --device 0 --out "$tmp/startup.safetensors"
	for i in 1 2 3 4 5; do
		for side in new ${AB:+old} $pre $nob $pri $s3 $rec; do
			bin=$b/cnngpu cache=$side preload=1 beside=1 prio=same
			[ $side = old ] && bin=$AB
			[ $side = nopre ] && cache=new preload=0
			[ $side = nobeside ] && cache=new beside=0
			[ $side = recorded ] && cache=new beside=recorded
			flags=()
			[ $side = oldrecipe ] && cache=new flags=(--augment shift:2 --label-smoothing 0)
			[ "${side#prio-}" != "$side" ] && cache=new prio=${side#prio-}
			[ $side = streams3 ] && cache=new
			# Only where set: an earlier build may not know the value
			# (3455834 refuses CNNGPU_PRIORITY=same).
			extra=()
			[ $prio != same ] && extra+=("CNNGPU_PRIORITY=$prio")
			[ $side = streams3 ] && extra+=("CNNGPU_STREAMS=3")
			wall "warm-$side" env XDG_CACHE_HOME="$tmp/cache-$cache" CNNGPU_PRELOAD=$preload CNNGPU_CUDNN_BESIDE=$beside "${extra[@]}" CNNGPU_TRACE=1 "$bin" train --device 0 --out "$tmp/startup.safetensors" "${flags[@]}"
		done
	done
	# PREDICT_AB=1 (the default): what `predict` waits for, five
	# alternating pairs: the default (the CPU engine, for up to 1,000
	# image files) against --device 0, with the model the runs above
	# wrote and their warm cache folder; one image (MNIST's first test
	# digit as a PNG), then 1,000 copies of it (the limit).
	if [ "${PREDICT_AB:-1}" = 1 ] && [ -f "$tmp/startup.safetensors" ]; then
		python3 - "$b/mnist/t10k-images-idx3-ubyte.gz" "$tmp/digit.png" <<'PY'
import gzip, struct, sys, zlib
px = gzip.open(sys.argv[1]).read()[16:16 + 784]
rows = b"".join(b"\0" + bytes(255 - v for v in px[r * 28:(r + 1) * 28]) for r in range(28))
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open(sys.argv[2], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
		mkdir -p "$tmp/digits" && for i in $(seq 1000); do cp "$tmp/digit.png" "$tmp/digits/$i.png"; done
		for i in 1 2 3 4 5; do
			for dev in default device0; do
				flag=()
				[ $dev = device0 ] && flag=(--device 0)
				wall "predict1-$dev" env XDG_CACHE_HOME="$tmp/cache-new" "$b/cnngpu" predict "${flag[@]}" --model "$tmp/startup.safetensors" "$tmp/digit.png"
				wall "predict1000-$dev" env XDG_CACHE_HOME="$tmp/cache-new" "$b/cnngpu" predict "${flag[@]}" --model "$tmp/startup.safetensors" "$tmp"/digits/*.png
			done
		done
	fi
	# STARTUP_PYTORCH=0 leaves PyTorch's run out (about 18 s).
	if [ "${STARTUP_PYTORCH:-1}" = 1 ] && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
		wall pytorch-graph python3 scripts/pytorch_reference.py --device cuda --graph --steps 4690 --warmup 10
	fi
	python3 - "$out/train-10-epochs.log" >>"$out/train-10-epochs.log" <<'PY'
import re, statistics, sys
w = {}
for line in open(sys.argv[1]):
    m = re.match(r"startup-(wall|final): (\S+) ([0-9.]+) rc=(\d+)", line)
    if m and m.group(4) == "0":
        w.setdefault((m.group(2), m.group(1)), []).append(float(m.group(3)))
for (k, kind), v in w.items():
    what = "to exit" if kind == "wall" else "to the final line"
    print(f"startup: {k}: {len(v)} run(s), {what}: median {statistics.median(v):.2f} s ({', '.join(f'{x:.2f}' for x in v)})")
PY
	# A step that fell back to running without a graph (its recording
	# failed) is a slower run, and a run that failed is left out of the
	# medians above: either is a failure of the startup row.
	st=ok
	if grep -q "recording the step as a CUDA graph failed" "$out/train-10-epochs.log"; then
		st=FAIL
		echo "startup: a run's recording failed (see train-10-epochs.log)" >>"$out/train-10-epochs.log"
	fi
	if failed=$(grep -E '^startup-final: .* rc=[1-9]' "$out/train-10-epochs.log"); then
		st=FAIL
		echo "startup: runs that failed, left out of the medians:" >>"$out/train-10-epochs.log"
		echo "$failed" >>"$out/train-10-epochs.log"
	fi
	rows+=("$(printf '%-20s %-9s %4ss' startup $st $((SECONDS - start)))")
fi
# Per-kernel device times of training steps at batch 128 (Nsight Compute,
# clocks left as they are), when ncu is there.
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ -n "$ncu" ] && [ "${NCU:-1}" = 1 ]; then
	# NCU_SETS: kernel sets, and own-conv: the own set with our conv2
	# kernels (CNNGPU_CONV=own; in the default, timed, a bench of this
	# length keeps cuDNN's until its timing ends); own-nohead: the own
	# set with CNNGPU_HEAD=0 (the output layer and loss as three kernels
	# each way, not dense_xent and head_grads); own-fusedupd: the own set
	# with CNNGPU_DENSE_UPDATE=fused (dense_wgrad_adam in place of dense1's
	# weight gradient product and its adam4).
	for set in ${NCU_SETS:-library own own-conv}; do
		ks=${set%%-*} conv=timed head=1 upd=split
		[ "$set" = own-conv ] && conv=own
		[ "$set" = own-nohead ] && head=0
		[ "$set" = own-fusedupd ] && upd=fused
		LOG=profile run "profile-$set" 120 env CNNGPU_KERNELS=$ks CNNGPU_CONV=$conv CNNGPU_HEAD=$head CNNGPU_DENSE_UPDATE=$upd CNNGPU_STREAMS=1 "$ncu" --clock-control none --metrics gpu__time_duration.sum --csv --launch-skip 700 --launch-count 100 \
			"$b/cnngpu" bench --device 0 --batch-size 128 --steps 30 --warmup 10
	done
fi
# SEEDS="1 2 …": the default 10-epoch run once per seed, then PyTorch's
# (scripts/pytorch_train.py, same recipe, its own initial draw) for the
# same seeds (PYTORCH_SEEDS, default SEEDS; "none" skips PyTorch's), for
# the spread of test accuracy (seeds.log; a summary line for each,
# "seeds:"). SEED_FLAGS="--label-smoothing 0.1" (say) trains the same
# seeds once more with those flags after the default runs ("cnngpu+flags"
# lines and summary). BENCH=0 skips the benchmark table.
if [ -n "${SEEDS:-}" ] && [ -d "$b/mnist" ]; then
	start=$SECONDS
	for s in $SEEDS; do
		timeout 60 "$b/cnngpu" train --device 0 --data "$b/mnist" --seed "$s" --quiet --out "$tmp/seed.safetensors" 2>&1 |
			grep -E "^test accuracy|rror" | sed "s/^/cnngpu seed $s: /" >>"$out/seeds.log"
	done
	if [ -n "${SEED_FLAGS:-}" ]; then
		echo "cnngpu+flags: $SEED_FLAGS" >>"$out/seeds.log"
		for s in $SEEDS; do
			# shellcheck disable=SC2086 # the flags, split as written
			timeout 60 "$b/cnngpu" train --device 0 --data "$b/mnist" --seed "$s" --quiet --out "$tmp/seed.safetensors" $SEED_FLAGS 2>&1 |
				grep -E "^test accuracy|rror" | sed "s/^/cnngpu+flags seed $s: /" >>"$out/seeds.log"
		done
	fi
	if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
		ps=${PYTORCH_SEEDS:-$SEEDS}
		[ "$ps" = none ] && ps=
		for s in $ps; do
			timeout 240 python3 scripts/pytorch_train.py --data "$b/mnist" --device cuda --seed "$s" 2>&1 | sed "s/^/pytorch seed $s: /" >>"$out/seeds.log"
		done
	fi
	python3 - "$out/seeds.log" >>"$out/seeds.log" <<'PY'
import json, re, statistics, sys
acc = {}
for line in open(sys.argv[1]):
    m = re.match(r"(cnngpu(?:\+flags)?) seed (\d+): test accuracy ([0-9.]+)%", line)
    if m:
        acc.setdefault(m.group(1), []).append(float(m.group(3)))
    m = re.match(r"pytorch seed (\d+): (\{.*\})", line)
    if m:
        acc.setdefault("pytorch", []).append(100 * json.loads(m.group(2))["test_acc"])
for k, v in acc.items():
    sd = statistics.stdev(v) if len(v) > 1 else 0
    print(f"seeds: {k}: {len(v)} runs, mean {statistics.mean(v):.2f}% ± {sd:.2f}, {min(v):.2f}–{max(v):.2f}%, "
          f"{sum(x >= 99.2 for x in v)} at 99.2% or more")
PY
	st=ok
	grep -q "^cnngpu[^:]* seed [0-9]*: .*rror" "$out/seeds.log" && st=FAIL
	rows+=("$(printf '%-20s %-9s %4ss' seeds $st $((SECONDS - start)))")
fi
[ "${BENCH:-1}" = 1 ] && run bench-gpu 300 env CNNGPU="$b/cnngpu" PYTORCH_LOG=/dev/stderr scripts/bench-gpu.sh
# AB=OLD_BINARY: an earlier build against this one, default variant,
# alternating, 5 rounds of 1,000 steps at each batch size in AB_SIZES
# (default 128): medians, in bench-gpu.log. PRIORITY_AB=1 (the default)
# adds this build with CNNGPU_PRIORITY=MODE for each of PRIORITY_MODES
# ("prio-MODE"). CONV_AB=1 (the default) adds
# this build with CNNGPU_CONV=cudnn and =own to each round (the default,
# "timed", picks between them in place), DENSE_AB=1 (the default) with
# CNNGPU_DENSE=cublas and =cublaslt (likewise), with or without AB.
# NOUPD_AB=1 (the default) adds this build with bench --no-update
# ("noupd": the step without its optimizer updates, which run on the
# second stream beside the backward pass: if the step loses about their
# 35 µs, the second stream bounds it; if little, the main stream does).
# STREAMS3_AB=1 (the default) adds this build with CNNGPU_STREAMS=3
# ("streams3": the updates on a third stream, beside the second stream's
# weight gradients). HEAD_AB=1 (the default) adds this build with
# CNNGPU_HEAD=0 ("nohead": the output layer and loss as three kernels
# each way, not dense_xent and head_grads). DEFER_AB=1 (the default) adds
# this build with bench --defer-update ("defer": dense1's update queued at
# the next step's start, beside the forward pass, instead of on the second
# stream after dense1's weight gradient, where it shares the memory with
# the main stream's backward pass: the same arithmetic, for measuring the
# schedule before building it for training). FUSEDUPD_AB=1 (the default)
# adds this build with CNNGPU_DENSE_UPDATE=fused ("fusedupd": dense1's
# weight gradient and update in one kernel, dense_wgrad_adam, which never
# writes the gradient; kernels/NOTES.md, "dense1's weight gradient and
# update in one kernel").
sides="${AB:+old }new"
if [ "${PRIORITY_AB:-1}" = 1 ]; then
	for m in ${PRIORITY_MODES:-main lanes}; do sides="$sides prio-$m"; done
fi
[ "${CONV_AB:-1}" = 1 ] && sides="$sides conv-cudnn conv-own"
[ "${DENSE_AB:-1}" = 1 ] && sides="$sides dense-cublas dense-cublaslt"
[ "${NOUPD_AB:-1}" = 1 ] && sides="$sides noupd"
[ "${STREAMS3_AB:-1}" = 1 ] && sides="$sides streams3"
[ "${HEAD_AB:-1}" = 1 ] && sides="$sides nohead"
[ "${DEFER_AB:-1}" = 1 ] && sides="$sides defer"
[ "${FUSEDUPD_AB:-1}" = 1 ] && sides="$sides fusedupd"
if [ "$sides" != new ] && { [ -z "${AB:-}" ] || [ -x "${AB:-}" ]; }; then
	start=$SECONDS
	for bs in ${AB_SIZES:-128}; do
		for i in 1 2 3 4 5; do
			for side in $sides; do
				bin=$b/cnngpu conv=timed dense=timed prio=same
				[ $side = old ] && bin=$AB
				[ "${side#prio-}" != "$side" ] && prio=${side#prio-}
				[ "${side#conv-}" != "$side" ] && conv=${side#conv-}
				[ "${side#dense-}" != "$side" ] && dense=${side#dense-}
				extra=() flags=()
				[ $prio != same ] && extra+=("CNNGPU_PRIORITY=$prio")
				[ $side = noupd ] && flags+=(--no-update)
				[ $side = defer ] && flags+=(--defer-update)
				[ $side = streams3 ] && extra+=("CNNGPU_STREAMS=3")
				[ $side = nohead ] && extra+=("CNNGPU_HEAD=0")
				[ $side = fusedupd ] && extra+=("CNNGPU_DENSE_UPDATE=fused")
				timeout 60 env CNNGPU_CONV=$conv CNNGPU_DENSE=$dense "${extra[@]}" "$bin" bench --device 0 --batch-size "$bs" --steps 1000 --warmup 20 --json "${flags[@]}" 2>>"$out/bench-gpu.log" | sed "s/^{/{\"ab\":\"$side\",/" >>"$out/bench-gpu.log"
			done
		done
	done
	python3 - "$out/bench-gpu.log" $sides >>"$out/bench-gpu.log" <<'PY'
import json, statistics, sys
runs, ours, bad = {}, {}, 0
for line in open(sys.argv[1]):
    if line.startswith('{"ab"'):
        try:
            r = json.loads(line)
        except ValueError:
            bad += 1  # a bench cut short mid-line
            continue
        runs.setdefault((r["batch_size"], r["ab"]), []).append(r["train_step_ms"])
        # The directions on our conv3 kernels, as the process chose them.
        got = [a.split("ours: ", 1)[1] for a in r.get("conv_algorithms", "").split(" | ") if "ours: " in a]
        if r.get("fused_dense"):
            got.append("cuBLASLt " + r["fused_dense"])
        ours.setdefault((r["batch_size"], r["ab"]), []).append("; ".join(got) or "none")
for (bs, side), v in sorted(runs.items()):
    chose = " | ".join(f"{ours[(bs, side)].count(c)}× {c}" for c in sorted(set(ours[(bs, side)])))
    print(f"bench-ab: batch {bs} {side}: median {statistics.median(v):.3f} ms a step ({', '.join(f'{x:.3f}' for x in v)}); ours: {chose}")
for side in sys.argv[2:]:
    if not any(s == side for _, s in runs):
        print(f"bench-ab: {side}: 0 runs (see its errors above in this log)")
if bad:
    print(f"bench-ab: {bad} unreadable line(s), left out")
PY
	st=ok
	grep -q "^bench-ab: .*: 0 runs" "$out/bench-gpu.log" && st=FAIL
	rows+=("$(printf '%-20s %-9s %4ss' ab $st $((SECONDS - start)))")
fi
# TIMELINE=1 (the default): the step's timeline at batch 128 (bench
# --timeline: the step recorded with a timing point after each kernel and
# library call on the stream that ran it, median of 100 replays), with
# each of TIMELINE_STREAMS (default "2 3"), into bench-gpu.log as
# "timeline-N:" lines: which stream ends last, after what; with HEAD_AB=1
# (the default) also two streams with CNNGPU_HEAD=0 ("timeline-nohead:"),
# with DEFER_AB=1 (the default) two streams with --defer-update
# ("timeline-defer:"), with FUSEDUPD_AB=1 (the default) two streams with
# CNNGPU_DENSE_UPDATE=fused ("timeline-fusedupd:").
if [ "${TIMELINE:-1}" = 1 ]; then
	start=$SECONDS st=ok
	for s in ${TIMELINE_STREAMS:-2 3}; do
		timeout -k 5 60 env CNNGPU_STREAMS="$s" "$b/cnngpu" bench --device 0 --batch-size 128 --steps 200 --warmup 20 --timeline 2>&1 | sed "s/^/timeline-$s: /" >>"$out/bench-gpu.log"
		[ "${PIPESTATUS[0]}" = 0 ] || st=FAIL
	done
	if [ "${HEAD_AB:-1}" = 1 ]; then
		timeout -k 5 60 env CNNGPU_HEAD=0 "$b/cnngpu" bench --device 0 --batch-size 128 --steps 200 --warmup 20 --timeline 2>&1 | sed "s/^/timeline-nohead: /" >>"$out/bench-gpu.log"
		[ "${PIPESTATUS[0]}" = 0 ] || st=FAIL
	fi
	if [ "${DEFER_AB:-1}" = 1 ]; then
		timeout -k 5 60 "$b/cnngpu" bench --device 0 --batch-size 128 --steps 200 --warmup 20 --timeline --defer-update 2>&1 | sed "s/^/timeline-defer: /" >>"$out/bench-gpu.log"
		[ "${PIPESTATUS[0]}" = 0 ] || st=FAIL
	fi
	if [ "${FUSEDUPD_AB:-1}" = 1 ]; then
		timeout -k 5 60 env CNNGPU_DENSE_UPDATE=fused "$b/cnngpu" bench --device 0 --batch-size 128 --steps 200 --warmup 20 --timeline 2>&1 | sed "s/^/timeline-fusedupd: /" >>"$out/bench-gpu.log"
		[ "${PIPESTATUS[0]}" = 0 ] || st=FAIL
	fi
	rows+=("$(printf '%-20s %-9s %4ss' timeline $st $((SECONDS - start)))")
fi
# TUNE=1: then the study of issue 4 (the default 36-configuration grid)
# on GPU 0 for what time is left before DEADLINE seconds (default 600);
# interrupted, it keeps the finished runs. Study folder and log go to
# tune.tar.gz.
# TUNE_JOBS="1 2 4 8": the study once per --jobs-per-device value, each
# from an empty folder, its wall time (command start to report.md) in
# tune.log ("tune-wall:" lines); the folders of all go to tune.tar.gz.
if [ "${TUNE:-0}" = 1 ] && [ -d "$b/mnist" ]; then
	mkdir -p "$tmp/tune"
	for n in ${TUNE_JOBS:-1}; do
		left=$((${DEADLINE:-600} - SECONDS - 10))
		[ $left -gt 30 ] || break
		start=$SECONDS t0=$EPOCHREALTIME
		# A fresh cache folder each: every N pays cuDNN's searches alike.
		timeout -s INT -k 10 "$left" env XDG_CACHE_HOME="$tmp/tune-cache-$n" "$b/cnngpu" tune --device 0 --jobs-per-device "$n" --data "$b/mnist" --out "$tmp/tune/jobs-$n" >>"$tmp/tune/tune.log" 2>&1
		rc=$?
		echo "tune-wall: jobs-per-device $n: $(python3 -c "print(f'{$EPOCHREALTIME - $t0:.1f}')") s rc=$rc" | tee -a "$tmp/tune/tune.log" >/dev/null
		# (124: stopped at DEADLINE, its finished runs kept, as asked.)
		st="FAIL($rc)"
		case $rc in 0) st=ok ;; 124) st=DEADLINE ;; esac
		rows+=("$(printf '%-20s %-9s %4ss' "tune-jobs-$n" "$st" $((SECONDS - start)))")
	done
	[ -n "$(ls -A "$tmp/tune")" ] && tar -czf "$out/tune.tar.gz" -C "$tmp" tune
fi
echo
echo "device check ($(date -u +%Y-%m-%dT%H:%M:%SZ)):"
grep -m1 "^GPU" "$out/devices.log"
tail -1 "$out/abi-check.log" 2>/dev/null
grep -h -E "^(--- |ok|FAIL|panic)" "$out"/cuda-tests.log "$out"/engine-tests.log 2>/dev/null | head -40
grep -h -E "largest relative|differ|drifts|did not learn" "$out"/engine-tests.log 2>/dev/null
# The TRAIN runs (the STARTUP runs follow them in the log, from its first
# "== startup" line).
awk '/^== startup/ { exit } /^engine|test accuracy|rror/' "$out"/train-10-epochs.log 2>/dev/null | tail -12
# Where the last TRAIN run's wall time went (CNNGPU_TRACE=1), under its
# engine line; then the first warm STARTUP run's of this build.
awk '/^== startup/ { exit } /^engine:/ { eng = $0 } /^cnngpu trace:/ { buf = eng "\n"; on = 1 } on { buf = buf $0 "\n" } /^wall:/ { on = 0 } END { printf "%s", buf }' \
	"$out/train-10-epochs.log" 2>/dev/null
awk '/^== startup warm-new/ { w = 1 } w && /^cnngpu trace:/ { print "startup, first warm run of this build:"; p = 1 } p { print } p && /^wall:/ { exit }' \
	"$out/train-10-epochs.log" 2>/dev/null
grep -h "^startup:" "$out/train-10-epochs.log" 2>/dev/null
grep -v -E '^(bench-gpu:|\{"ab"|bench-ab|timeline-)' "$out/bench-gpu.log" 2>/dev/null | grep -v '^{' | tail -22
grep -h "^bench-ab" "$out/bench-gpu.log" 2>/dev/null
grep -h -E "^timeline-([0-9]+|nohead|defer|fusedupd): (training|timeline|  last op|cnngpu)" "$out/bench-gpu.log" 2>/dev/null
# One step's kernels per kernel set: totals here, the whole table with
# scripts/profile_table.py profile.log.
[ -f "$out/profile.log" ] && python3 scripts/profile_table.py "$out/profile.log" 2>/dev/null | grep "^profile"
grep -h "^seeds:" "$out/seeds.log" 2>/dev/null
[ -f "$out/tune.tar.gz" ] && tar -xzOf "$out/tune.tar.gz" tune/tune.log 2>/dev/null | grep "^tune-wall"
printf '%s\n' "${rows[@]}"
# Exit 1 where a row is not ok (a failure, or GPU tests skipped; a study
# stopped at DEADLINE is as asked).
for r in "${rows[@]}"; do
	read -r _ st _ <<<"$r"
	[ "$st" = ok ] || [ "$st" = DEADLINE ] || exit 1
done
