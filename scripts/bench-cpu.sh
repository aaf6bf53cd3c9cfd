#!/usr/bin/env bash
# bench-cpu.sh: cnngpu's CPU engine against PyTorch on the CPU, back to back
# in one sitting, same model, batch size and step count; prints a table with
# the ratio. Needs bin/cnngpu (make build) and python3 with torch (Debian:
# apt-get install python3-torch libopenblas0-pthread; without OpenBLAS,
# Debian's torch uses the reference BLAS and is ten times slower); without
# torch it prints cnngpu alone. BS (128) and STEPS (30) set the batch size
# and the timed steps; PYTHON the interpreter with torch (default
# /usr/bin/python3, Debian's, where python3-torch installs it: a pip or
# virtualenv torch needs PYTHON=python3).
set -euo pipefail
cd "$(dirname "$0")/.."
BS=${BS:-128}
STEPS=${STEPS:-30}
PY=${PYTHON:-/usr/bin/python3}
{
	./bin/cnngpu bench --cpu --batch-size "$BS" --steps "$STEPS" --json
	if "$PY" -c 'import torch' 2>/dev/null; then
		# PyTorch at its best here: torch's own threads on every core and
		# OpenBLAS (when it is the system BLAS) single-threaded under them;
		# letting both spawn threads oversubscribes the cores and halves it.
		OPENBLAS_NUM_THREADS=1 "$PY" scripts/pytorch_reference.py --device cpu --threads "$(nproc)" --batch-size "$BS" --steps "$STEPS"
	else
		echo "note: $PY has no torch; showing cnngpu alone (apt-get install python3-torch to compare)" >&2
	fi
} | python3 scripts/bench_table.py
