#!/bin/bash
# image-corpus.sh OLD_BINARY NEW_BINARY [MODEL]: how two builds of cnngpu
# prepare photos and drawings of digits. Writes the synthetic corpus of
# scripts/imagecorpus (4,000 images: 150 MNIST test digits in 25
# families, 250 non-digits) into a temporary folder, classifies it with
# both builds (CPU engine, one build after the other) and prints, per
# family, the share read right and refused by each. MODEL: a trained
# checkpoint (default: runs/model.safetensors, make run's, else the newest
# runs/model-*.safetensors).
set -euo pipefail
old=${1:?usage: scripts/image-corpus.sh OLD_BINARY NEW_BINARY [MODEL]}
new=${2:?usage: scripts/image-corpus.sh OLD_BINARY NEW_BINARY [MODEL]}
model=${3:-}
# The names as given, from where it was called; then the repository.
# (A name without a slash is looked up on PATH, as the shell would.)
old=$(readlink -f -- "$(command -v -- "$old" || echo "$old")")
new=$(readlink -f -- "$(command -v -- "$new" || echo "$new")")
[ -z "$model" ] || model=$(readlink -f -- "$model")
cd "$(dirname "$0")/.."
if [ -z "$model" ] && [ -e runs/model.safetensors ]; then
	model=runs/model.safetensors
elif [ -z "$model" ]; then
	model=$(ls -t runs/model-*.safetensors 2>/dev/null | head -1 || true)
fi
[ -n "$model" ] || { echo "image-corpus.sh: no model: give one, or train one with make run" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Each build reads the model and one image before the corpus is made (a
# minute or two): a binary or model that does not load is said at once.
for bin in "$old" "$new"; do
	if ! "$bin" predict --cpu --model "$model" docs/digit.png >/dev/null 2>"$dir/err"; then
		echo "image-corpus.sh: $bin predict --cpu --model $model docs/digit.png failed:" >&2
		tail -5 "$dir/err" >&2
		exit 1
	fi
done
go run ./scripts/imagecorpus "$dir"
cut -f1 "$dir/manifest.tsv" > "$dir/files"
for side in old new; do
  bin=$old; [ $side = new ] && bin=$new
  : > "$dir/$side.jsonl"
  split -l 400 -d "$dir/files" "$dir/chunk_"
  for c in "$dir"/chunk_*; do
    # A file refused is a JSON error object and a line on stderr, and
    # exit status 1; anything else (a binary or model that does not
    # load) is said, with what it printed.
    rc=0
    xargs -a "$c" -d '\n' "$bin" predict --cpu --json --model "$model" >> "$dir/$side.jsonl" 2> "$dir/err" || rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 123 ]; then
      echo "image-corpus.sh: $bin predict exited $rc:" >&2; tail -5 "$dir/err" >&2; exit 1
    fi
  done
  rm -f "$dir"/chunk_*
done
python3 scripts/imagecorpus/compare.py "$dir/manifest.tsv" "$dir/old.jsonl" "$dir/new.jsonl"
