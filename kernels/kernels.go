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
	"first_conv_pool3", "bias_act_pool", "pool_back_act", "first_grad_pool3", "conv3_pool", "conv3_data", "conv3_filter",
	"dense_small", "dense_small_dw", "dense_small_dx", "dense_xent", "head_grads", "adam", "adam4", "dense_wgrad_adam", "sgd", "step_inc", "fill_f32", "fill_i32", "fill_u8",
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

// DenseXentOut is DENSE_XENT_OUT in kernels.cu: the most outputs of a
// layer whose training step's output layer and loss dense_xent runs.
const DenseXentOut = 16

// DenseUpdateTile is DWA_T in kernels.cu: the side of the square tile of
// a dense layer's weights one block of dense_wgrad_adam updates (its grid
// is DenseUpdateBlocks).
const DenseUpdateTile = 64

// DenseUpdateThreads is DWA_THREADS in kernels.cu: dense_wgrad_adam's
// block size (its thread-to-element mapping assumes it).
const DenseUpdateThreads = 256

// DenseUpdateBlocks is dense_wgrad_adam's grid for a layer of in inputs
// and out outputs: a block a tile.
func DenseUpdateBlocks(in, out int) int {
	return ((in + DenseUpdateTile - 1) / DenseUpdateTile) * ((out + DenseUpdateTile - 1) / DenseUpdateTile)
}

// Conv3 limits (CONV3_* in kernels.cu): the output channels one thread
// of conv3_pool and conv3_data computes, the most a block takes, and the
// most floats of one input plane with its border, (h+2)·Conv3Pitch(w).
const (
	Conv3Thread   = 8
	Conv3MaxBlock = 32
	Conv3Plane    = 368
)

// Conv3Pitch is CONV3_PITCH: the floats between the rows of an input
// plane with its border in conv3's shared memory, w+2 or more, 7 more
// than a multiple of 16 (the 32 windows of a warp then meet fewer at a
// bank).
func Conv3Pitch(w int) int { return w + 2 + (7-(w+2))&15 }

// Conv3Block is the output channels a block of conv3_pool or conv3_data
// takes for an output of k channels of h×w pixels, nb images, on a GPU
// with mp multiprocessors: the most (a multiple of Conv3Thread dividing k,
// at most Conv3MaxBlock) that still gives 7 multiprocessors in 8 a block
// (each block stages its image's input once for its kb channels: fewer,
// larger blocks stage less per product; kernels/NOTES.md), else the
// fewest; 0 when the kernels do not take the shape (h or w odd,
// a plane with its border over Conv3Plane floats, k not a multiple of
// Conv3Thread). A block has (h/2)·(w/2)·kb/Conv3Thread threads: at most
// 280 (no more than 70 windows fit the plane, at 14×20).
func Conv3Block(k, nb, h, w, mp int) int {
	if h < 2 || w < 2 || h%2 != 0 || w%2 != 0 || (h+2)*Conv3Pitch(w) > Conv3Plane {
		return 0
	}
	best := 0
	for kb := Conv3MaxBlock; kb >= Conv3Thread; kb /= 2 {
		if k%kb != 0 {
			continue
		}
		best = kb
		if 8*nb*(k/kb) >= 7*mp {
			break
		}
	}
	return best
}

// Conv3Filter limits (CONV3F_* in kernels.cu): the output channels one
// thread of conv3_filter takes, and the most output channels, input
// channels and row length it takes.
const (
	Conv3FilterThread = 8
	Conv3FilterMaxK   = 64
	Conv3FilterMaxC   = 32
	Conv3FilterMaxW   = 14
)

// Conv3FilterSplits is how many blocks (slices of the nb·h image rows,
// each writing its partial sums) conv3_filter takes for cin input and k
// output channels of h×w images on a GPU with mp multiprocessors: one a
// multiprocessor, at most one a row; 0 when the kernel does not take the
// shape (more channels or a longer row than its shared memory holds, or k
// not a multiple of Conv3FilterThread). A block has cin·k/Conv3FilterThread
// threads.
func Conv3FilterSplits(cin, k, nb, h, w, mp int) int {
	if cin < 1 || cin > Conv3FilterMaxC || k < Conv3FilterThread || k > Conv3FilterMaxK || k%Conv3FilterThread != 0 ||
		w < 1 || w > Conv3FilterMaxW || h < 1 || nb < 1 {
		return 0
	}
	return min(max(mp, 1), nb*h)
}
