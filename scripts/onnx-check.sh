#!/usr/bin/env bash
# onnx-check.sh: checks the ONNX export with a real runtime. Trains a small
# model (or uses MODEL=FILE), exports it, runs the 10,000 MNIST test images
# through ONNX Runtime (Node.js, onnxruntime-node's CPU runtime) and through
# `cnngpu predict --idx`, and compares. Needs node and npm, bin/cnngpu and
# the MNIST cache (make data).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=scripts/onnx-check
if [ ! -d "$dir/node_modules/onnxruntime-node" ]; then
	# --ignore-scripts: the install script only fetches optional GPU extras
	# from a host that may not be reachable; the CPU runtime is in the package.
	(cd "$dir" && npm install --ignore-scripts --no-audit --no-fund --silent)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=${MODEL:-}
if [ -z "$model" ]; then
	model=$work/model.safetensors
	./bin/cnngpu train --cpu --epochs 1 --train-limit 10000 --quiet --out "$model"
fi
cache=${XDG_CACHE_HOME:-$HOME/.cache}/cnngpu/mnist
./bin/cnngpu export --model "$model" --format onnx --out "$work/model.onnx"
./bin/cnngpu predict --model "$model" --idx "$cache/t10k-images-idx3-ubyte.gz" --json > "$work/pred.jsonl"
node "$dir/check.mjs" "$work/model.onnx" "$cache/t10k-images-idx3-ubyte.gz" "$work/pred.jsonl"
