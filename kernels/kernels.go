// Package kernels carries cnngpu's own CUDA kernels: kernels.cu, and the
// PTX compiled from it (committed, embedded here) that the GPU engine loads
// with the driver's JIT, so building cnngpu needs no CUDA toolkit.
// `make kernels` regenerates kernels.ptx with the pinned nvcc 11.8
// (Debian 12's nvidia-cuda-toolkit) for compute_60, which the driver (520
// or newer, for PTX ISA 7.8) compiles for every GPU of compute capability
// 6.0 or newer; the .target line of the PTX is the minimum cuda.Open
// checks the GPU against.
package kernels

import (
	_ "embed"
	"regexp"
)

// PTX is the compiled module.
//
//go:embed kernels.ptx
var PTX string

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
