#!/usr/bin/env bash
# bench-gpu.sh: cnngpu on GPU 0 (strict FP32: the library kernel set on
# one stream, the own set on one, the own set on two (the default); and
# the default in TF32) at batch 64, 128, 256 and 512,
# the CPU engine at 128, and, when python3 has CUDA PyTorch, the same model
# in PyTorch on the same GPU and batch sizes, eager and with the whole step
# captured as a CUDA graph (capturable Adam), each with PyTorch's default
# settings, strict FP32, TF32 and bf16 autocast; one table with the
# ratios (each cnngpu row against PyTorch at its own precision). CNNGPU=path selects the binary (default bin/cnngpu); STEPS the
# timed steps; PYTORCH_LOG a file for PyTorch's messages (default: none).
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${CNNGPU:-bin/cnngpu}
STEPS=${STEPS:-300}
PY=${PYTHON:-python3}
plog=${PYTORCH_LOG:-/dev/null}
if ! command -v "$bin" >/dev/null; then
	echo "bench-gpu: no cnngpu binary at $bin: make build (or CNNGPU=path)" >&2
	exit 2
fi
# Without a working GPU every row would fail the same way: say it once.
if ! "$bin" devices >/dev/null 2>&1; then
	echo "bench-gpu: no GPU works here ($bin devices says why); make bench-cpu benchmarks the CPU engine" >&2
	exit 1
fi
torch_cuda=0
if "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>>"$plog"; then
	torch_cuda=1
else
	echo "bench-gpu: no CUDA PyTorch for $PY; the table has cnngpu alone" >&2
fi
sizes="64 128 256 512"
{
	if [ $torch_cuda = 1 ]; then
		"$PY" scripts/pytorch_reference.py --device cuda --batch-sizes "${sizes// /,}" --modes eager,graph --precisions default,fp32,tf32,bf16 --steps "$STEPS" --warmup 10 2>>"$plog"
	fi
	for bs in $sizes; do
		CNNGPU_KERNELS=library CNNGPU_STREAMS=1 "$bin" bench --device 0 --batch-size "$bs" --steps "$STEPS" --warmup 10 --json
		CNNGPU_KERNELS=own CNNGPU_STREAMS=1 "$bin" bench --device 0 --batch-size "$bs" --steps "$STEPS" --warmup 10 --json
		CNNGPU_KERNELS=own CNNGPU_STREAMS=2 "$bin" bench --device 0 --batch-size "$bs" --steps "$STEPS" --warmup 10 --json
		CNNGPU_KERNELS=own CNNGPU_STREAMS=2 "$bin" bench --device 0 --precision tf32 --batch-size "$bs" --steps "$STEPS" --warmup 10 --json
	done
	"$bin" bench --cpu --batch-size 128 --steps 10 --json
} | "$PY" scripts/bench_table.py
