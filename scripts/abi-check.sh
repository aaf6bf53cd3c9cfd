#!/usr/bin/env bash
# abi-check.sh: compiles and runs abi-check.c against the real CUDA, cuBLAS
# and cuDNN headers (CUDA_INCLUDE, default /usr/local/cuda/include, then
# /usr/include; cuDNN's from /usr/include/x86_64-linux-gnu when present).
# Only declarations are checked: nothing is linked or called.
set -euo pipefail
cd "$(dirname "$0")"
inc=()
for d in ${CUDA_INCLUDE:-} /usr/local/cuda/include /usr/include/x86_64-linux-gnu; do
	[ -d "$d" ] && inc+=(-I"$d")
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
${CC:-cc} -std=gnu11 -Werror=incompatible-pointer-types -Werror=int-conversion -Wall -Wno-unused-variable "${inc[@]}" -c abi-check.c -o "$out/abi.o"
# Link without the libraries: every function is only referenced through a
# pointer that is never called, so undefined symbols are allowed.
${CC:-cc} "$out/abi.o" -o "$out/abi" -Wl,--unresolved-symbols=ignore-all
"$out/abi"
