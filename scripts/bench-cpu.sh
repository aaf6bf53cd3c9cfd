#!/usr/bin/env bash
# bench-cpu.sh: cnngpu's CPU engine against PyTorch on the CPU, back to back
# in one sitting, same model, batch size and step count; prints a table with
# the ratio. Needs bin/cnngpu (make build) and python3 with torch (Debian:
# apt-get install python3-torch libopenblas0-pthread; without OpenBLAS,
# Debian's torch uses the reference BLAS and is ten times slower); without
# torch it prints cnngpu alone.
set -euo pipefail
cd "$(dirname "$0")/.."
BS=${BS:-128}
STEPS=${STEPS:-30}
PY=${PYTHON:-/usr/bin/python3}
ours=$(./bin/cnngpu bench --cpu --batch-size "$BS" --steps "$STEPS" --json)
theirs=""
if "$PY" -c 'import torch' 2>/dev/null; then
	# PyTorch at its best here: torch's own threads on every core and
	# OpenBLAS (when it is the system BLAS) single-threaded under them;
	# letting both spawn threads oversubscribes the cores and halves it.
	theirs=$(OPENBLAS_NUM_THREADS=1 "$PY" scripts/pytorch_reference.py --device cpu --threads "$(nproc)" --batch-size "$BS" --steps "$STEPS")
else
	echo "note: $PY has no torch; showing cnngpu alone (apt-get install python3-torch to compare)" >&2
fi
"$PY" - "$ours" "$theirs" <<'PYEOF'
import json, sys
rows = [json.loads(a) for a in sys.argv[1:] if a.strip()]
print(f"{'engine':<48} {'train img/s':>12} {'ms/step':>9} {'epoch s':>8} {'infer img/s':>12}")
for r in rows:
    print(f"{r['engine']:<48} {r['train_images_per_sec']:>12.0f} {r['train_step_ms']:>9.1f} {r['epoch_seconds_60000']:>8.1f} {r['inference_images_per_sec']:>12.0f}")
if len(rows) == 2:
    print(f"cnngpu / pytorch: training {rows[0]['train_images_per_sec'] / rows[1]['train_images_per_sec']:.2f}x, "
          f"inference {rows[0]['inference_images_per_sec'] / rows[1]['inference_images_per_sec']:.2f}x "
          f"(batch {rows[0]['batch_size']}, {rows[0]['steps']} timed steps each)")
PYEOF
