#!/usr/bin/env bash
# bench-gpu.sh: cnngpu on GPU 0 (strict FP32 and TF32) at batch 64, 128, 256
# and 512, the CPU engine at 128, and, when python3 has CUDA PyTorch, the
# same model in PyTorch on the same GPU and batch sizes, eager and with the
# whole step captured as a CUDA graph (capturable Adam); one
# table with the ratios. CNNGPU=path selects the binary (default bin/cnngpu).
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${CNNGPU:-bin/cnngpu}
STEPS=${STEPS:-200}
PY=${PYTHON:-python3}
{
	for bs in 64 128 256 512; do
		"$PY" scripts/pytorch_reference.py --device cuda --batch-size "$bs" --steps "$STEPS" 2>/dev/null
		"$PY" scripts/pytorch_reference.py --device cuda --graph --batch-size "$bs" --steps "$STEPS" 2>/dev/null
		"$bin" bench --device 0 --batch-size "$bs" --steps "$STEPS" --json
		"$bin" bench --device 0 --precision tf32 --batch-size "$bs" --steps "$STEPS" --json
	done
	"$bin" bench --cpu --batch-size 128 --steps 10 --json
} | "$PY" scripts/bench_table.py
