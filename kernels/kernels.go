// Package kernels carries cnngpu's own CUDA kernels: kernels.cu, and what
// `make kernels` compiles from it with the pinned nvcc 11.8 (Debian 12's
// nvidia-cuda-toolkit), committed and embedded here so that building
// cnngpu needs no CUDA toolkit:
//
//   - kernels.fatbin, what the GPU engine loads: SASS (machine code) for
//     sm_70, sm_75, sm_80, sm_86, sm_89 and sm_90 (Volta to Hopper), which
//     the driver loads as it is, and compute_60 PTX, which it compiles
//     (JIT) for a GPU with no SASS here: Pascal, and anything newer than
//     Hopper. The PTX is ISA 7.8, for drivers 520 or newer.
//   - kernels.ptx, the same PTX on its own: kernels/emu and the parameter
//     tests read it, and its .target line is the minimum compute
//     capability (6.0) cuda.Open checks the GPU against.
//   - kernels.sum, the SHA-256 of kernels.cu and of both outputs, which
//     the tests compare to tell when `make kernels` is due.
package kernels

import (
	_ "embed"
	"regexp"
)

// PTX is the compiled module as PTX text (compute_60).
//
//go:embed kernels.ptx
var PTX string

// Fatbin is the compiled module as the driver loads it: a fat binary
// (magic 0xBA55ED50) with SASS for sm_70 to sm_90 and the compute_60 PTX
// of PTX, for cuModuleLoadDataEx. It is binary (NUL bytes included), so it
// goes to C as bytes of its full length, never as a C string.
//
//go:embed kernels.fatbin
var Fatbin []byte

// Names lists the kernels the GPU engine launches.
var Names = []string{
	"gather", "advance", "bias_act", "act_grad", "bias_grad", "maxpool", "maxpool_back",
	"softmax_xent", "act_bias_grad", "sum_partials", "sum_partials2", "first_conv3", "first_conv5", "first_grad3", "first_grad5",
	"first_conv_pool3", "bias_act_pool", "pool_back_act", "first_grad_pool3",
	"dense_small", "dense_small_dw", "dense_small_dx", "adam", "adam4", "sgd", "step_inc", "fill_f32", "fill_i32", "fill_u8",
}

var entry = regexp.MustCompile(`\.visible \.entry (\w+)\(`)

// Entries returns the kernel names defined in the PTX.
func Entries() []string {
	var out []string
	for _, m := range entry.FindAllStringSubmatch(PTX, -1) {
		out = append(out, m[1])
	}
	return out
}

// Splits is how many blocks share one of k channels in the kernels that
// reduce over nb images (act_bias_grad, first_grad3/5) on a GPU with mp
// multiprocessors: enough for about four blocks per multiprocessor, at
// most one per image.
func Splits(k, nb, mp int) int {
	return max(1, min(nb, (4*max(mp, 1)+k-1)/k))
}
