// emu_test.go: every kernel of kernels.cu run on the CPU and compared with
// a float64 reference, so that CI (which has no GPU) checks the kernels'
// arithmetic and indexing. kernels/emu compiles kernels.cu as C with a
// prelude in which a launch runs its blocks in turn and, for a kernel that
// synchronises, a block's threads are POSIX threads (__syncthreads a
// barrier, __shared__ arrays shared by the block). The launches mirror
// engine/cuda's: same kernels, argument types, block size and grids. The
// GPU itself runs the same kernels through the conformance suite
// (engine/cuda), which also runs on an emulated device (emulated_test.go
// there).

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/enginetest"
	"github.com/cnngpu/cnngpu/kernels/emu"
)

const block = 256

// null is a null pointer argument.
type null struct{}

// launch runs kernel name on grid blocks of blk threads in the emulator
// (kernels/emu), or skips the test in a build without cgo. Arguments:
// []float32, []int32 and []uint8 are device buffers (copied into emulated
// device memory and back, with what the kernel left there), null{} a null
// pointer, int32, int64 and float32 scalars.
func launch(t *testing.T, name string, grid, blk int, args ...any) {
	t.Helper()
	if err := launchErr(t, name, grid, blk, args...); err != nil {
		t.Fatalf("emulated %s: %v", name, err)
	}
}

// launchErr is launch returning the emulator's error for the launch.
func launchErr(t *testing.T, name string, grid, blk int, args ...any) error {
	t.Helper()
	if !emu.Available {
		t.Skip("this build has no cgo, so no kernel emulator (kernels/emu): kernel test skipped")
	}
	m := emu.NewMemory()
	defer m.Close()
	type buf struct {
		p    uint64
		host []byte
	}
	var bufs []buf
	var eargs []emu.Arg
	for _, a := range args {
		switch v := a.(type) {
		case []float32, []int32, []uint8:
			var host []byte
			switch v := v.(type) {
			case []float32:
				host = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
			case []int32:
				host = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
			case []uint8:
				host = v
			}
			p, err := m.Alloc(len(host))
			if err != nil {
				t.Fatal(err)
			}
			dev, err := m.Bytes(p, len(host))
			if err != nil {
				t.Fatal(err)
			}
			copy(dev, host)
			bufs = append(bufs, buf{p, host})
			eargs = append(eargs, emu.Arg{Bits: p, Size: 8})
		case null:
			eargs = append(eargs, emu.Arg{Bits: 0, Size: 8})
		case int32:
			eargs = append(eargs, emu.Arg{Bits: uint64(uint32(v)), Size: 4})
		case int64:
			eargs = append(eargs, emu.Arg{Bits: uint64(v), Size: 8})
		case float32:
			eargs = append(eargs, emu.Arg{Bits: uint64(math.Float32bits(v)), Size: 4})
		default:
			panic(fmt.Sprintf("launch: argument of type %T", a))
		}
	}
	if err := m.LaunchOrderChecked(name, grid, blk, eargs); err != nil {
		return err
	}
	for _, b := range bufs {
		dev, err := m.Bytes(b.p, len(b.host))
		if err != nil {
			t.Fatal(err)
		}
		copy(b.host, dev)
		if err := m.Free(b.p); err != nil {
			t.Fatalf("emulated %s: %v", name, err)
		}
	}
	return nil
}

// grid is the number of blocks for n threads (as cuda.Context.Launch).
func grid(n int) int { return (n + block - 1) / block }

func randF(r *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = (2*r.Float64() - 1) * scale
	}
	return v
}

func f32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

var acts = []engine.Activation{engine.Identity, engine.ReLU, engine.Sigmoid, engine.Tanh}

// TestEmuHandlesEveryKernel: the emulator's table (kernels/emu/emu.c) has
// every kernel of kernels.cu with its parameters' kinds, and marks as
// synchronising exactly those that call __syncthreads.
func TestEmuHandlesEveryKernel(t *testing.T) {
	if !emu.Available {
		t.Skip("this build has no cgo, so no kernel emulator (kernels/emu): kernel test skipped")
	}
	src, err := os.ReadFile("kernels.cu")
	if err != nil {
		t.Fatal(err)
	}
	defs := regexp.MustCompile(`__global__ void (?:__launch_bounds__\([^)]*\) )?(\w+)\(([^)]*)\)`).FindAllStringSubmatch(string(src), -1)
	if len(defs) == 0 {
		t.Fatal("no kernels found in kernels.cu")
	}
	for _, d := range defs {
		name := d[1]
		var want strings.Builder
		for _, p := range strings.Split(d[2], ",") {
			p = strings.Join(strings.Fields(p), " ")
			switch {
			case strings.Contains(p, "*") && strings.HasPrefix(p, "const "):
				want.WriteByte('C')
			case strings.Contains(p, "*"):
				want.WriteByte('P')
			case strings.HasPrefix(p, "long long "):
				want.WriteByte('L')
			case strings.HasPrefix(p, "float "):
				want.WriteByte('F')
			case strings.HasPrefix(p, "int "), strings.HasPrefix(p, "unsigned char "):
				want.WriteByte('I')
			default:
				t.Fatalf("%s: parameter %q of a kind the emulator does not know", name, p)
			}
		}
		got, ok := emu.Signature(name)
		if !ok {
			t.Errorf("kernels/emu/emu.c cannot run kernel %s: add it to KERNELS", name)
			continue
		}
		if got != want.String() {
			t.Errorf("kernels/emu/emu.c has %s's parameters as %s, kernels.cu as %s", name, got, want.String())
		}
	}
	if got := emu.Kernels(); len(got) != len(defs) {
		t.Errorf("the emulator has %d kernels, kernels.cu %d", len(got), len(defs))
	}
	for _, n := range Names {
		if _, ok := emu.Signature(n); !ok {
			t.Errorf("the engine launches %s, which the emulator lacks", n)
		}
	}
}

func TestEmuGather(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	const pool, n, pixels = 40, 9, 784
	images := make([]uint8, pool*pixels)
	for i := range images {
		images[i] = uint8(r.IntN(256))
	}
	labels := make([]int32, pool)
	for i := range labels {
		labels[i] = int32(r.IntN(10))
	}
	perm := make([]int32, pool)
	for i := range perm {
		perm[i] = int32(r.IntN(pool))
	}
	cursor := []int32{13}
	x := make([]float32, n*pixels)
	y := make([]int32, n)
	launch(t, "gather", grid(n*pixels), block, images, labels, perm, cursor, x, y, int32(n), int32(pixels),
		int32(0), int32(28), int32(0), int32(0), float32(0), float32(0))
	for k := 0; k < n; k++ {
		idx := int(perm[13+k])
		if y[k] != labels[idx] {
			t.Fatalf("y[%d] = %d, want %d", k, y[k], labels[idx])
		}
		for j := 0; j < pixels; j++ {
			if want := float32(images[idx*pixels+j]) / 255; x[k*pixels+j] != want {
				t.Fatalf("x[%d,%d] = %v, want %v", k, j, x[k*pixels+j], want)
			}
		}
	}
	launch(t, "advance", 1, 1, cursor, int32(n))
	if cursor[0] != 13+n {
		t.Errorf("advance: cursor %d, want %d", cursor[0], 13+n)
	}

	// Augmented: the C Philox and shift give engine.ShiftOffsets and
	// engine.ShiftImage's images, bit for bit, for a seed with both
	// halves set.
	seed := uint64(0xfedcba9876543210)
	want := make([]float32, pixels)
	for _, shift := range []int{1, 2, engine.MaxShift} {
		cur := []int32{4, 11} // position 4, epoch 11
		launch(t, "gather", grid(n*pixels), block, images, labels, perm, cur, x, y, int32(n), int32(pixels),
			int32(shift), int32(28), int32(uint32(seed)), int32(uint32(seed>>32)), float32(0), float32(0))
		for k := 0; k < n; k++ {
			idx := perm[4+k]
			dx, dy := engine.ShiftOffsets(seed, 11, idx, shift)
			engine.ShiftImage(want, images[int(idx)*pixels:int(idx+1)*pixels], 28, dx, dy)
			if !slices.Equal(x[k*pixels:(k+1)*pixels], want) {
				t.Fatalf("augmented gather, shift %d: image %d (offset %+d,%+d) differs from engine.ShiftImage", shift, idx, dx, dy)
			}
		}
	}
	// Warped: the C rotation and scaling give engine.DrawWarp and
	// engine.WarpImage's images, bit for bit, with and without a shift.
	for _, a := range []engine.Augment{{Shift: 2, Rotate: 10, Scale: 0.1}, {Rotate: engine.MaxRotate}, {Scale: engine.MaxScale}} {
		a.Seed = seed
		tmax, smax := a.WarpBounds()
		cur := []int32{4, 11}
		launch(t, "gather", grid(n*pixels), block, images, labels, perm, cur, x, y, int32(n), int32(pixels),
			int32(a.Shift), int32(28), int32(uint32(seed)), int32(uint32(seed>>32)), tmax, smax)
		for k := 0; k < n; k++ {
			idx := perm[4+k]
			w := engine.DrawWarp(a, 11, idx)
			engine.WarpImage(want, images[int(idx)*pixels:int(idx+1)*pixels], 28, w)
			if !slices.Equal(x[k*pixels:(k+1)*pixels], want) {
				t.Fatalf("warped gather %+v: image %d (warp %+v) differs from engine.WarpImage", a, idx, w)
			}
		}
	}
}

func TestEmuBiasActAndGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, sh := range []struct{ n, k, inner int }{{3, 5, 7}, {11, 13, 1}} {
		total := sh.n * sh.k * sh.inner
		for _, act := range acts {
			name := fmt.Sprintf("%v n%d k%d inner%d", act, sh.n, sh.k, sh.inner)
			zv, bv := randF(r, total, 2), randF(r, sh.k, 1)
			y := f32(zv)
			launch(t, "bias_act", grid(total), block, y, f32(bv), int64(total), int32(sh.inner), int32(sh.k), int32(act))
			ref := make([]float64, total)
			for i := range ref {
				ref[i] = enginetest.Act(act, float64(float32(zv[i]))+float64(float32(bv[(i/sh.inner)%sh.k])))
			}
			enginetest.Close(t, "bias_act "+name, y, ref, 1e-6, 1e-6)

			dyv := randF(r, total, 1)
			dz := make([]float32, total)
			launch(t, "act_grad", grid(total), block, dz, f32(dyv), y, int64(total), int32(act))
			for i := range ref {
				ref[i] = float64(float32(dyv[i])) * enginetest.ActGradFromOutput(act, float64(y[i]))
			}
			enginetest.Close(t, "act_grad "+name, dz, ref, 1e-6, 1e-6)
		}
	}
}

// biasRef sums dz (nb,k,inner) over n and inner for each channel.
func biasRef(dz []float64, nb, k, inner int) []float64 {
	db := make([]float64, k)
	for n := 0; n < nb; n++ {
		for c := 0; c < k; c++ {
			for p := 0; p < inner; p++ {
				db[c] += dz[(n*k+c)*inner+p]
			}
		}
	}
	return db
}

func TestEmuBiasGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, sh := range []struct{ nb, k, inner int }{{9, 6, 1}, {300, 10, 1}, {5, 4, 49}} {
		dzv := randF(r, sh.nb*sh.k*sh.inner, 1)
		db := make([]float32, sh.k)
		launch(t, "bias_grad", sh.k, block, db, f32(dzv), int32(sh.nb), int32(sh.k), int32(sh.inner))
		enginetest.Close(t, fmt.Sprintf("bias_grad %+v", sh), db, biasRef(dzv, sh.nb, sh.k, sh.inner), 1e-5, 1e-5)
	}
}

func TestEmuActBiasGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	// Uneven slices: 37 images over 4 and over 37 blocks per channel.
	for _, sh := range []struct{ nb, k, inner, splits int }{{37, 5, 11, 4}, {37, 3, 6, 37}, {2, 7, 300, 1}} {
		total := sh.nb * sh.k * sh.inner
		for _, act := range acts {
			name := fmt.Sprintf("%v %+v", act, sh)
			dyv := randF(r, total, 1)
			yv := make([]float64, total)
			for i := range yv {
				yv[i] = float64(float32(enginetest.Act(act, 2*r.Float64()-1)))
			}
			dz := make([]float32, total)
			part := make([]float32, sh.k*sh.splits)
			launch(t, "act_bias_grad", sh.k*sh.splits, block, dz, part, f32(dyv), f32(yv),
				int32(sh.nb), int32(sh.k), int32(sh.inner), int32(sh.splits), int32(act))
			ref := make([]float64, total)
			for i := range ref {
				ref[i] = float64(float32(dyv[i])) * enginetest.ActGradFromOutput(act, yv[i])
			}
			enginetest.Close(t, "act_bias_grad dz "+name, dz, ref, 1e-6, 1e-6)
			db := make([]float32, sh.k)
			launch(t, "sum_partials", grid(sh.k), block, db, part, int32(sh.k), int32(sh.splits), int32(sh.splits), int32(1))
			enginetest.Close(t, "act_bias_grad db "+name, db, biasRef(ref, sh.nb, sh.k, sh.inner), 1e-5, 1e-5)

			// Without dz (the engine passes null for identity).
			part2 := make([]float32, sh.k*sh.splits)
			launch(t, "act_bias_grad", sh.k*sh.splits, block, null{}, part2, f32(dyv), f32(yv),
				int32(sh.nb), int32(sh.k), int32(sh.inner), int32(sh.splits), int32(act))
			if !slices.Equal(part, part2) {
				t.Errorf("act_bias_grad %s: partial sums differ without dz", name)
			}
		}
	}
}

func TestEmuFirstConv(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	for _, s := range []engine.ConvShape{
		{N: 3, C: 1, H: 28, W: 28, K: 32, R: 3, S: 3, Pad: 1},
		{N: 2, C: 1, H: 12, W: 10, K: 4, R: 5, S: 5, Pad: 0},
		{N: 2, C: 1, H: 6, W: 7, K: 3, R: 3, S: 3, Pad: 0},
		{N: 1, C: 1, H: 9, W: 8, K: 2, R: 5, S: 5, Pad: 2},
	} {
		kernel := fmt.Sprintf("first_conv%d", s.R)
		xv := f64(f32(randF(r, s.N*s.H*s.W, 1)))
		wv := f64(f32(randF(r, s.K*s.R*s.S, 1/float64(s.R))))
		bv := f64(f32(randF(r, s.K, 0.1)))
		for _, act := range acts {
			total := s.N * s.K * s.P() * s.Q()
			y := make([]float32, total+1)
			y[total] = 7
			// One thread per image pixel, as engine/cuda launches it.
			launch(t, kernel, grid(s.N*s.P()*s.Q()), block, y, f32(xv), f32(wv), f32(bv),
				int32(s.N), int32(s.K), int32(s.H), int32(s.W), int32(s.Pad), int32(act))
			name := fmt.Sprintf("%s %v %+v", kernel, act, s)
			enginetest.Close(t, name, y[:total], enginetest.RefConv(xv, wv, bv, s, act), 1e-6, 1e-5)
			if y[total] != 7 {
				t.Errorf("%s wrote past y", name)
			}
		}
	}
}

// TestEmuConvPool: first_conv_pool3 and bias_act_pool give the same bits
// as the kernels they fuse (first_conv3 or bias_act, then maxpool), with
// the engine's launch geometry; ReLU's zeros make ties within windows.
func TestEmuConvPool(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	for _, s := range []engine.ConvShape{
		{N: 3, C: 1, H: 28, W: 28, K: 32, R: 3, S: 3, Pad: 1},
		{N: 2, C: 1, H: 12, W: 10, K: 11, R: 3, S: 3, Pad: 0}, // K not a multiple of the channel group
		{N: 1, C: 1, H: 6, W: 8, K: 3, R: 3, S: 3, Pad: 1},
	} {
		P, Q := s.P(), s.Q()
		ps := engine.PoolShape{N: s.N, C: s.K, H: P, W: Q, Size: 2}
		total, outs := s.N*s.K*P*Q, s.N*s.K*ps.OH()*ps.OW()
		xv := f32(randF(r, s.N*s.H*s.W, 1))
		wv := f32(randF(r, s.K*s.R*s.S, 1/float64(s.R)))
		bv := f32(randF(r, s.K, 0.1))
		for _, act := range acts {
			name := fmt.Sprintf("%v %+v", act, s)
			// Unfused: first_conv3, then maxpool.
			y := make([]float32, total)
			launch(t, "first_conv3", grid(s.N*P*Q), block, y, xv, wv, bv, int32(s.N), int32(s.K), int32(s.H), int32(s.W), int32(s.Pad), int32(act))
			p := make([]float32, outs)
			arg := make([]int32, outs)
			launch(t, "maxpool", grid(outs), block, y, p, arg, int32(s.N*s.K), int32(P), int32(Q), int32(2))
			// Fused, with a guard element after each output.
			groups := (s.K + 7) / 8
			fy, fp, farg := make([]float32, total+1), make([]float32, outs+1), make([]int32, outs+1)
			fy[total], fp[outs], farg[outs] = 7, 7, 7
			launch(t, "first_conv_pool3", grid(groups*s.N*ps.OH()*ps.OW()), block, fy, fp, farg, xv, wv, bv,
				int32(s.N), int32(s.K), int32(s.H), int32(s.W), int32(s.Pad), int32(act))
			samePooled(t, "first_conv_pool3 "+name, fy, fp, farg, y, p, arg)
			// bias_act_pool against bias_act then maxpool, on the
			// convolution's output before bias and activation.
			z := f32(randF(r, total, 1))
			for i := 0; i < total; i += 5 {
				z[i] = -1 // ReLU zeros: ties
			}
			y2 := slices.Clone(z)
			launch(t, "bias_act", grid(total), block, y2, bv, int64(total), int32(P*Q), int32(s.K), int32(act))
			p2, arg2 := make([]float32, outs), make([]int32, outs)
			launch(t, "maxpool", grid(outs), block, y2, p2, arg2, int32(s.N*s.K), int32(P), int32(Q), int32(2))
			fz, fp2, farg2 := append(slices.Clone(z), 7), make([]float32, outs+1), make([]int32, outs+1)
			fp2[outs], farg2[outs] = 7, 7
			launch(t, "bias_act_pool", grid(outs), block, fz, fp2, farg2, bv, int32(s.N*s.K), int32(s.K), int32(P), int32(Q), int32(act))
			samePooled(t, "bias_act_pool "+name, fz, fp2, farg2, y2, p2, arg2)
		}
	}
}

// TestEmuPoolBackAct: pool_back_act writes what maxpool_back (on zeroed
// memory) then act_bias_grad write: dz equal (a zero's sign aside), the
// bias's partial sums within rounding (another order of the same terms),
// and with a null partial dz alone.
func TestEmuPoolBackAct(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 13))
	for _, sh := range []struct{ nb, k, P, Q, splits int }{{37, 5, 28, 28, 4}, {3, 4, 14, 14, 3}, {2, 3, 6, 10, 1}} {
		ps := engine.PoolShape{N: sh.nb, C: sh.k, H: sh.P, W: sh.Q, Size: 2}
		total, outs := sh.nb*sh.k*sh.P*sh.Q, sh.nb*sh.k*ps.OH()*ps.OW()
		for _, act := range acts {
			name := fmt.Sprintf("%v %+v", act, sh)
			z := randF(r, total, 1)
			for i := 0; i < total; i += 3 {
				z[i] = -0.5 // ties after ReLU
			}
			yv := make([]float32, total)
			for i := range yv {
				yv[i] = float32(enginetest.Act(act, z[i]))
			}
			p, arg := make([]float32, outs), make([]int32, outs)
			launch(t, "maxpool", grid(outs), block, yv, p, arg, int32(sh.nb*sh.k), int32(sh.P), int32(sh.Q), int32(2))
			dp := f32(randF(r, outs, 1))
			dy := make([]float32, total)
			launch(t, "maxpool_back", grid(outs), block, dp, arg, dy, int64(outs))
			dz, part := make([]float32, total), make([]float32, sh.k*sh.splits)
			launch(t, "act_bias_grad", sh.k*sh.splits, block, dz, part, dy, yv,
				int32(sh.nb), int32(sh.k), int32(sh.P*sh.Q), int32(sh.splits), int32(act))

			fz, fpart := make([]float32, total+1), make([]float32, sh.k*sh.splits+1)
			for i := range fz {
				fz[i] = 7 // every element must be written
			}
			fpart[len(fpart)-1] = 7
			launch(t, "pool_back_act", sh.k*sh.splits, block, fz, fpart, dp, arg, yv,
				int32(sh.nb), int32(sh.k), int32(sh.P), int32(sh.Q), int32(sh.splits), int32(act))
			for i := range dz {
				if fz[i] != dz[i] {
					t.Fatalf("pool_back_act %s: dz[%d] = %v, maxpool_back then act_bias_grad give %v", name, i, fz[i], dz[i])
				}
			}
			if fz[total] != 7 || fpart[len(fpart)-1] != 7 {
				t.Errorf("pool_back_act %s wrote past an output", name)
			}
			enginetest.Close(t, "pool_back_act partial sums "+name, fpart[:len(part)], f64(part), 1e-6, 1e-5)
			fz2 := make([]float32, total)
			launch(t, "pool_back_act", sh.k*sh.splits, block, fz2, null{}, dp, arg, yv,
				int32(sh.nb), int32(sh.k), int32(sh.P), int32(sh.Q), int32(sh.splits), int32(act))
			if !slices.Equal(fz2, fz[:total]) {
				t.Errorf("pool_back_act %s: dz differs without partial sums", name)
			}
		}
	}
}

// TestEmuFirstGradPool: first_grad_pool3's partial sums, added by
// sum_partials2, are conv1's filter and bias gradients from the pooled
// gradient: maxpool_back's scatter into the unpooled gradient, then the
// float64 reference (first_grad_pool3 adds in another order than
// maxpool_back then first_grad3, so not to the bit). With uneven slices,
// one image a slice, windows in odd numbers per row and column, pad 0 and
// 1, ties in the pooled windows (ReLU's zeros), and nothing written past
// the partial sums.
func TestEmuFirstGradPool(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 14))
	for _, c := range []struct {
		s      engine.ConvShape
		splits int
	}{
		{engine.ConvShape{N: 37, C: 1, H: 28, W: 28, K: 5, R: 3, S: 3, Pad: 1}, Splits(5, 37, 132)}, // one image a block
		{engine.ConvShape{N: 37, C: 1, H: 28, W: 28, K: 32, R: 3, S: 3, Pad: 1}, 4},                 // uneven slices
		{engine.ConvShape{N: 5, C: 1, H: 8, W: 6, K: 3, R: 3, S: 3, Pad: 0}, 1},                     // 3×2 windows: a thread's pairs span images
		{engine.ConvShape{N: 10, C: 1, H: 12, W: 8, K: 2, R: 3, S: 3, Pad: 0}, 3},                   // 5×3 windows, slices of 3, 3, 4
		{engine.ConvShape{N: 7, C: 1, H: 10, W: 18, K: 3, R: 3, S: 3, Pad: 1}, 2},                   // 5×9 windows, every edge tap
	} {
		s := c.s
		P, Q := s.P(), s.Q()
		ps := engine.PoolShape{N: s.N, C: s.K, H: P, W: Q, Size: 2}
		total, outs := s.N*s.K*P*Q, s.N*s.K*ps.OH()*ps.OW()
		for _, act := range acts {
			name := fmt.Sprintf("%v %+v splits %d", act, s, c.splits)
			xv := f32(randF(r, s.N*s.H*s.W, 1))
			yv := make([]float32, total)
			for i := range yv {
				v := 2*r.Float64() - 1
				if i%3 == 0 {
					v = -0.5 // ties after ReLU
				}
				yv[i] = float32(enginetest.Act(act, v))
			}
			p, arg := make([]float32, outs), make([]int32, outs)
			launch(t, "maxpool", grid(outs), block, yv, p, arg, int32(s.N*s.K), int32(P), int32(Q), int32(2))
			dp := f32(randF(r, outs, 1))
			n := (s.K*9 + s.K) * c.splits
			part := make([]float32, n+1)
			part[n] = 7
			launch(t, "first_grad_pool3", s.K*c.splits, block, part, dp, arg, yv, xv,
				int32(s.N), int32(s.K), int32(s.H), int32(s.W), int32(s.Pad), int32(c.splits), int32(act))
			if part[n] != 7 {
				t.Errorf("first_grad_pool3 %s wrote past its partial sums", name)
			}
			dw, db := make([]float32, s.K*9), make([]float32, s.K)
			launch(t, "sum_partials2", grid(s.K*9+s.K), block, dw, int32(s.K*9), db, part[:n], int32(s.K*9+s.K), int32(c.splits))
			// The reference: dp scattered to its window's maximum, 0 at
			// the window's other three pixels.
			dy := make([]float64, total)
			for o, m := range arg {
				dy[m] += float64(dp[o])
			}
			_, rdw, rdb := enginetest.RefConvBackward(f64(xv), make([]float64, s.K*9), f64(yv), dy, s, act)
			sc := math.Sqrt(float64(s.N * ps.OH() * ps.OW()))
			enginetest.Close(t, "first_grad_pool3 dw "+name, dw, rdw, 1e-6*sc, 1e-5)
			enginetest.Close(t, "first_grad_pool3 db "+name, db, rdb, 1e-6*sc, 1e-5)
		}
	}
}

// samePooled checks a fused kernel's y, p and arg (each with a guard
// element 7 after it) against the unfused kernels': the same bits, the
// same indices, the guards untouched.
func samePooled(t *testing.T, what string, fy, fp []float32, farg []int32, y, p []float32, arg []int32) {
	t.Helper()
	sameBits(t, what+" y", fy[:len(y)], y)
	sameBits(t, what+" p", fp[:len(p)], p)
	if !slices.Equal(farg[:len(arg)], arg) {
		t.Errorf("%s: arg differs from maxpool's", what)
	}
	if fy[len(y)] != 7 || fp[len(p)] != 7 || farg[len(arg)] != 7 {
		t.Errorf("%s wrote past an output", what)
	}
}

// sameBits fails t, naming the first difference, unless got and want are
// the same floats bit for bit.
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Errorf("%s: element %d is %v, the unfused kernels give %v", what, i, got[i], want[i])
			return
		}
	}
}

func TestEmuFirstGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, c := range []struct {
		s      engine.ConvShape
		splits int
	}{
		{engine.ConvShape{N: 37, C: 1, H: 28, W: 28, K: 5, R: 3, S: 3, Pad: 1}, Splits(5, 37, 132)}, // 37 blocks a channel, one image each
		{engine.ConvShape{N: 37, C: 1, H: 28, W: 28, K: 32, R: 3, S: 3, Pad: 1}, 4},                 // uneven slices
		{engine.ConvShape{N: 3, C: 1, H: 12, W: 10, K: 4, R: 5, S: 5, Pad: 0}, 2},
		{engine.ConvShape{N: 5, C: 1, H: 6, W: 7, K: 3, R: 3, S: 3, Pad: 0}, 1}, // 20 outputs an image: a thread's elements span images
		{engine.ConvShape{N: 2, C: 1, H: 9, W: 8, K: 2, R: 5, S: 5, Pad: 2}, 2},
	} {
		s := c.s
		kernel := fmt.Sprintf("first_grad%d", s.R)
		for _, act := range acts {
			name := fmt.Sprintf("%s %v %+v splits %d", kernel, act, s, c.splits)
			xv := f64(f32(randF(r, s.N*s.H*s.W, 1)))
			total := s.N * s.K * s.P() * s.Q()
			dyv := f64(f32(randF(r, total, 1)))
			yv := make([]float64, total)
			for i := range yv {
				yv[i] = float64(float32(enginetest.Act(act, 2*r.Float64()-1)))
			}
			taps := s.R * s.S
			part := make([]float32, (s.K*taps+s.K)*c.splits)
			launch(t, kernel, s.K*c.splits, block, part, f32(dyv), f32(yv), f32(xv),
				int32(s.N), int32(s.K), int32(s.H), int32(s.W), int32(s.Pad), int32(c.splits), int32(act))
			dw := make([]float32, s.K*taps+1)
			db := make([]float32, s.K+1)
			dw[len(dw)-1], db[len(db)-1] = 7, 7 // past the end: untouched
			launch(t, "sum_partials2", grid(s.K*taps+s.K), block, dw, int32(s.K*taps), db, part, int32(s.K*taps+s.K), int32(c.splits))
			_, rdw, rdb := enginetest.RefConvBackward(xv, make([]float64, s.K*taps), yv, dyv, s, act)
			sc := math.Sqrt(float64(s.N * s.P() * s.Q()))
			enginetest.Close(t, name+" dw", dw[:s.K*taps], rdw, 1e-6*sc, 1e-5)
			enginetest.Close(t, name+" db", db[:s.K], rdb, 1e-6*sc, 1e-5)
			if dw[len(dw)-1] != 7 || db[len(db)-1] != 7 {
				t.Errorf("%s: sum_partials2 wrote past dw or db", name)
			}
		}
	}
}

func TestEmuDenseSmall(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, s := range []engine.DenseShape{{N: 128, In: 1000, Out: 10}, {N: 33, In: 50, Out: 19}, {N: 1, In: 7, Out: 1}, {N: 5, In: 37, Out: 32}} {
		xv := f64(f32(randF(r, s.N*s.In, 1)))
		wv := f64(f32(randF(r, s.Out*s.In, 1/math.Sqrt(float64(s.In)))))
		bv := f64(f32(randF(r, s.Out, 0.1)))
		for _, act := range acts {
			name := fmt.Sprintf("dense_small %+v %v", s, act)
			y := make([]float32, s.N*s.Out)
			launch(t, "dense_small", s.N*s.Out, 128, y, f32(xv), f32(wv), f32(bv), int32(s.N), int32(s.In), int32(s.Out), int32(act))
			enginetest.Close(t, name, y, enginetest.RefDense(xv, wv, bv, s, act), 1e-6, 1e-5)
		}
		// The gradients from dz (the engine applies act' first).
		dzv := f64(f32(randF(r, s.N*s.Out, 1)))
		rdx, rdw, _ := enginetest.RefDenseBackward(xv, wv, make([]float64, len(dzv)), dzv, s, engine.Identity)
		dw := make([]float32, s.Out*s.In+1)
		dw[len(dw)-1] = 7
		launch(t, "dense_small_dw", s.Out*((s.In+31)/32), block, dw, f32(dzv), f32(xv), int32(s.N), int32(s.In), int32(s.Out))
		sc := math.Sqrt(float64(max(s.N, s.Out)))
		enginetest.Close(t, fmt.Sprintf("dense_small_dw %+v", s), dw[:s.Out*s.In], rdw, 1e-6*sc, 1e-5)
		dx := make([]float32, s.N*s.In+1)
		dx[len(dx)-1] = 7
		launch(t, "dense_small_dx", grid(s.N*s.In), block, dx, f32(dzv), f32(wv), int32(s.N), int32(s.In), int32(s.Out))
		enginetest.Close(t, fmt.Sprintf("dense_small_dx %+v", s), dx[:s.N*s.In], rdx, 1e-6*sc, 1e-5)
		if dw[len(dw)-1] != 7 || dx[len(dx)-1] != 7 {
			t.Errorf("dense_small %+v: a gradient kernel wrote past its output", s)
		}
	}
}

// TestEmuDenseXent: dense_xent gives the bits of dense_small (blocks of
// 128, no activation), softmax_xent and dense_small_dx in turn, and
// head_grads those of dense_small_dw and bias_grad on its dz, and over its
// rows the statistics softmax_xent adds (two blocks of rows at n = 300);
// the float64 reference agrees; nothing is written past an output, and a
// null dx is skipped.
func TestEmuDenseXent(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	for si, s := range []engine.DenseShape{{N: 128, In: 1000, Out: 10}, {N: 300, In: 130, Out: 16}, {N: 3, In: 7, Out: 1}, {N: 5, In: 300, Out: 13}} {
		ls := []float64{0.1, 0, 0.25, 0.1}[si]
		off, on := engine.SmoothTargets(ls, s.Out)
		name := fmt.Sprintf("dense_xent %+v, label smoothing %v", s, ls)
		xv := f64(f32(randF(r, s.N*s.In, 1)))
		wv := f64(f32(randF(r, s.Out*s.In, 2/math.Sqrt(float64(s.In)))))
		bv := f64(f32(randF(r, s.Out, 0.1)))
		labels := make([]int32, s.N)
		for i := range labels {
			labels[i] = int32(r.IntN(s.Out))
		}
		dwBlocks := s.Out * ((s.In + 31) / 32)
		// The kernels the engine ran before.
		z1 := make([]float32, s.N*s.Out)
		launch(t, "dense_small", s.N*s.Out, 128, z1, f32(xv), f32(wv), f32(bv), int32(s.N), int32(s.In), int32(s.Out), int32(engine.Identity))
		dz1 := make([]float32, s.N*s.Out)
		st1 := []float32{1, 2, 3}
		launch(t, "softmax_xent", grid(s.N), block, z1, labels, null{}, dz1, st1, int32(s.N), int32(s.Out), off, on)
		dx1, dw1, db1 := make([]float32, s.N*s.In), make([]float32, s.Out*s.In), make([]float32, s.Out)
		launch(t, "dense_small_dx", grid(s.N*s.In), block, dx1, dz1, f32(wv), int32(s.N), int32(s.In), int32(s.Out))
		launch(t, "dense_small_dw", dwBlocks, block, dw1, dz1, f32(xv), int32(s.N), int32(s.In), int32(s.Out))
		launch(t, "bias_grad", s.Out, block, db1, dz1, int32(s.N), int32(s.Out), int32(1))

		z2, dz2 := make([]float32, s.N*s.Out+1), make([]float32, s.N*s.Out+1)
		dx2, rows := make([]float32, s.N*s.In+1), make([]float32, 2*s.N+1)
		z2[s.N*s.Out], dz2[s.N*s.Out], dx2[s.N*s.In], rows[2*s.N] = 7, 7, 7, 7
		launch(t, "dense_xent", s.N, 128, z2, dz2, dx2, rows, f32(xv), f32(wv), f32(bv), labels, int32(s.N), int32(s.In), int32(s.Out), off, on)
		st2 := []float32{1, 2, 3}
		dw2, db2 := make([]float32, s.Out*s.In+1), make([]float32, s.Out+1)
		dw2[s.Out*s.In], db2[s.Out] = 7, 7
		launch(t, "head_grads", dwBlocks+s.Out+grid(s.N), block, dw2, db2, st2, dz2[:s.N*s.Out], f32(xv), rows[:2*s.N],
			int32(s.N), int32(s.In), int32(s.Out))
		if z2[s.N*s.Out] != 7 || dz2[s.N*s.Out] != 7 || dx2[s.N*s.In] != 7 || rows[2*s.N] != 7 || dw2[s.Out*s.In] != 7 || db2[s.Out] != 7 {
			t.Errorf("%s: wrote past an output", name)
		}
		for _, c := range []struct {
			what      string
			got, want []float32
		}{{"logits", z2[:s.N*s.Out], z1}, {"dlogits", dz2[:s.N*s.Out], dz1}, {"dx", dx2[:s.N*s.In], dx1},
			{"dw", dw2[:s.Out*s.In], dw1}, {"db", db2[:s.Out], db1}, {"stats", st2, st1}} {
			for i := range c.want {
				if math.Float32bits(c.got[i]) != math.Float32bits(c.want[i]) {
					t.Errorf("%s: %s[%d] = %v, the kernels before give %v", name, c.what, i, c.got[i], c.want[i])
					break
				}
			}
		}
		rz := enginetest.RefDense(xv, wv, bv, s, engine.Identity)
		enginetest.Close(t, name+" logits", z2[:s.N*s.Out], rz, 1e-6, 1e-5)
		loss, correct, _, rdz := enginetest.RefSoftmaxXent(f64(z2[:s.N*s.Out]), labels, s.N, s.Out, ls)
		enginetest.Close(t, name+" dlogits", dz2[:s.N*s.Out], rdz, 1e-7, 1e-5)
		enginetest.Close(t, name+" stats", st2, []float64{1 + loss, 2 + float64(correct), 3 + float64(s.N)}, 1e-3, 1e-5)
		rdx, rdw, rdb := enginetest.RefDenseBackward(xv, wv, make([]float64, len(rdz)), f64(dz2[:s.N*s.Out]), s, engine.Identity)
		sc := math.Sqrt(float64(max(s.N, s.Out)))
		enginetest.Close(t, name+" dx", dx2[:s.N*s.In], rdx, 1e-6*sc, 1e-5)
		enginetest.Close(t, name+" dw", dw2[:s.Out*s.In], rdw, 1e-6*sc, 1e-5)
		enginetest.Close(t, name+" db", db2[:s.Out], rdb, 1e-6*sc, 1e-5)

		// Without dx: the rest as before.
		z3, dz3, rows3 := make([]float32, s.N*s.Out), make([]float32, s.N*s.Out), make([]float32, 2*s.N)
		launch(t, "dense_xent", s.N, 128, z3, dz3, null{}, rows3, f32(xv), f32(wv), f32(bv), labels, int32(s.N), int32(s.In), int32(s.Out), off, on)
		if !slices.Equal(dz3, dz2[:s.N*s.Out]) || !slices.Equal(rows3, rows[:2*s.N]) {
			t.Errorf("%s: without dx, dlogits or the rows differ", name)
		}
	}
}

func TestEmuMaxPool(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, s := range []engine.PoolShape{{N: 2, C: 3, H: 28, W: 28, Size: 2}, {N: 1, C: 2, H: 7, W: 9, Size: 2}, {N: 1, C: 1, H: 6, W: 6, Size: 3}} {
		name := fmt.Sprintf("%+v", s)
		xv := f64(f32(randF(r, s.N*s.C*s.H*s.W, 1)))
		xv[1] = xv[0] // a tie: the first maximum wins
		out := s.N * s.C * s.OH() * s.OW()
		y := make([]float32, out)
		arg := make([]int32, out)
		launch(t, "maxpool", grid(out), block, f32(xv), y, arg, int32(s.N*s.C), int32(s.H), int32(s.W), int32(s.Size))
		ry, rarg := enginetest.RefMaxPool(xv, s)
		enginetest.Close(t, "maxpool y "+name, y, ry, 0, 0)
		for i := range rarg {
			if int(arg[i]) != rarg[i] {
				t.Fatalf("maxpool %s: arg[%d] = %d, want %d", name, i, arg[i], rarg[i])
			}
		}
		dyv := f64(f32(randF(r, out, 1)))
		dx := make([]float32, len(xv)) // the engine zeroes dx first
		launch(t, "maxpool_back", grid(out), block, f32(dyv), arg, dx, int64(out))
		enginetest.Close(t, "maxpool_back "+name, dx, enginetest.RefMaxPoolBackward(dyv, rarg, len(xv)), 0, 0)
	}
}

func TestEmuSoftmaxXent(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	const n, classes = 300, 10 // two blocks: the statistics add up atomically
	zv := f64(f32(randF(r, n*classes, 4)))
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(r.IntN(classes))
	}
	for _, ls := range []float64{0, 0.1} {
		name := fmt.Sprintf("softmax_xent (label smoothing %v)", ls)
		off, on := engine.SmoothTargets(ls, classes)
		probs := make([]float32, n*classes)
		dz := make([]float32, n*classes)
		stats := []float32{1, 2, 3} // added to, not overwritten
		launch(t, "softmax_xent", grid(n), block, f32(zv), labels, probs, dz, stats, int32(n), int32(classes), off, on)
		loss, correct, rp, rdz := enginetest.RefSoftmaxXent(zv, labels, n, classes, ls)
		enginetest.Close(t, name+" probs", probs, rp, 1e-6, 1e-5)
		enginetest.Close(t, name+" dz", dz, rdz, 1e-7, 1e-5)
		enginetest.Close(t, name+" stats", stats, []float64{1 + loss, 2 + float64(correct), 3 + n}, 1e-3, 1e-5)
		for i := range dz { // the CPU engine's arithmetic, bit for bit
			if want := engine.SmoothedGrad(probs[i], off, on, int32(i%classes) == labels[i/classes]) * (1 / float32(n)); math.Float32bits(dz[i]) != math.Float32bits(want) {
				t.Errorf("%s: dz[%d] = %v, engine.SmoothedGrad gives %v", name, i, dz[i], want)
				break
			}
		}
		// Without probs and dz (evaluation, training).
		stats = []float32{0, 0, 0}
		launch(t, "softmax_xent", grid(n), block, f32(zv), labels, null{}, null{}, stats, int32(n), int32(classes), off, on)
		enginetest.Close(t, name+" stats only", stats, []float64{loss, float64(correct), n}, 1e-3, 1e-5)
	}
}

func TestEmuUpdate(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	const n = 1001 // adam4's last thread takes a tail of one
	for _, c := range []engine.OptConfig{
		{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7},
		{Kind: engine.Adam, LR: 0.03, Beta1: 0.8, Beta2: 0.99, Eps: 1e-3},
		{Kind: engine.SGD, LR: 0.01, Momentum: 0.9},
		// Scheduled: updates 1–2 warm up, 3 is on the cosine.
		{Kind: engine.Adam, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7,
			Sched: engine.Schedule{Kind: engine.CosineLR, Warmup: 2, Total: 5, Final: 0.1}},
		{Kind: engine.SGD, LR: 0.1, Momentum: 0.9, Sched: engine.Schedule{Kind: engine.CosineLR, Warmup: 1, Total: 3}},
	} {
		sc := c.Sched
		sched := []any{int32(sc.Kind), int32(sc.Warmup), int32(sc.Total), sc.Final}
		kernels := []string{"sgd"}
		if c.Kind == engine.Adam {
			kernels = []string{"adam", "adam4"}
		}
		for _, k := range kernels {
			name := fmt.Sprintf("%s %+v", k, c)
			pv := f64(f32(randF(r, n, 0.1)))
			p, s1, s2, step := f32(pv), make([]float32, n), make([]float32, n), []float32{0}
			r1, r2 := make([]float64, n), make([]float64, n)
			for it := 1; it <= 3; it++ {
				gv := f64(f32(randF(r, n, 1)))
				g := f32(gv)
				switch k {
				case "sgd":
					launch(t, k, grid(n), block, append([]any{p, g, s1, step, int64(n), c.LR, c.Momentum}, sched...)...)
				case "adam":
					launch(t, k, grid(n), block, append([]any{p, g, s1, s2, step, int64(n), c.LR, c.Beta1, c.Beta2, c.Eps}, sched...)...)
				case "adam4":
					launch(t, k, grid((n+3)/4), block, append([]any{p, g, s1, s2, step, int64(n), c.LR, c.Beta1, c.Beta2, c.Eps}, sched...)...)
				}
				launch(t, "step_inc", 1, 1, step, int32(1))
				enginetest.RefUpdate(c, pv, gv, r1, r2, it)
			}
			enginetest.Close(t, name+" p", p, pv, 1e-6, 1e-5)
			enginetest.Close(t, name+" s1", s1, r1, 1e-6, 1e-5)
			if c.Kind == engine.Adam {
				enginetest.Close(t, name+" s2", s2, r2, 1e-7, 1e-5)
			}
			if step[0] != 3 {
				t.Errorf("%s: step %v, want 3", name, step[0])
			}
		}
	}
}

// TestEmuDenseWgradAdam: dense_wgrad_adam's update of a layer's weights
// and bias from dz and x matches the float64 reference's Adam over the
// gradients (dw = dzᵀ·x, db = dz's column sums), over three
// updates with a schedule, on shapes with partial tiles (rows, columns,
// and images short of DWA_K), with and without its 16-byte loads.
func TestEmuDenseWgradAdam(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 3))
	c := engine.OptConfig{Kind: engine.Adam, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7,
		Sched: engine.Schedule{Kind: engine.CosineLR, Warmup: 2, Total: 5, Final: 0.1}}
	sc := c.Sched
	for _, s := range []struct{ nb, in, out, vec int }{
		{5, 70, 67, 0}, {20, 64, 64, 1}, {33, 132, 130, 1}, {33, 132, 130, 0}, {16, 200, 9, 1}, {1, 3, 1, 0},
	} {
		name := fmt.Sprintf("nb %d, in %d, out %d, vec %d", s.nb, s.in, s.out, s.vec)
		n := s.out*s.in + s.out
		pv := f64(f32(randF(r, n, 0.1)))
		p, m, v, step := f32(pv), make([]float32, n), make([]float32, n), []float32{0}
		r1, r2 := make([]float64, n), make([]float64, n)
		for it := 1; it <= 3; it++ {
			dzv, xv := f64(f32(randF(r, s.nb*s.out, 1))), f64(f32(randF(r, s.nb*s.in, 1)))
			// The gradients summed as the kernel sums them (fmaf over the
			// images in order; a float32 product is exact in float64), so
			// that the comparison is of the updates alone: Adam's m/√v
			// turns a gradient's rounding near 0 into a visible step.
			g32 := make([]float32, n)
			for o := range s.out {
				for k := range s.nb {
					d := float32(dzv[k*s.out+o])
					for i := range s.in {
						j := o*s.in + i
						g32[j] = float32(math.FMA(float64(d), xv[k*s.in+i], float64(g32[j])))
					}
					g32[s.out*s.in+o] += d
				}
			}
			g := f64(g32)
			launch(t, "dense_wgrad_adam", DenseUpdateBlocks(s.in, s.out), DenseUpdateThreads, p, m, v, f32(dzv), f32(xv), step,
				int32(s.nb), int32(s.in), int32(s.out), int32(s.vec), c.LR, c.Beta1, c.Beta2, c.Eps,
				int32(sc.Kind), int32(sc.Warmup), int32(sc.Total), sc.Final)
			launch(t, "step_inc", 1, 1, step, int32(1))
			enginetest.RefUpdate(c, pv, g, r1, r2, it)
		}
		enginetest.Close(t, name+" p", p, pv, 1e-6, 1e-5)
		enginetest.Close(t, name+" m", m, r1, 1e-6, 1e-5)
		enginetest.Close(t, name+" v", v, r2, 1e-7, 1e-5)
	}
}

// TestEmuMisaligned: a 16-byte access at an address that is not 16-byte
// aligned, which faults on a GPU, fails the emulated launch naming the
// kernel: dense_wgrad_adam told to use its 16-byte path on rows of 130
// floats (and not without it). (The engine's conformance suite runs
// DenseBackwardUpdate on rows of 130 and 66 floats, and Update on views
// one float into their buffers, through the engine's choice of path.)
func TestEmuMisaligned(t *testing.T) {
	const nb, in, out = 4, 130, 40
	w := make([]float32, out*in+out)
	for _, vec := range []int32{0, 1} {
		err := launchErr(t, "dense_wgrad_adam", DenseUpdateBlocks(in, out), DenseUpdateThreads, w, make([]float32, len(w)), make([]float32, len(w)),
			make([]float32, nb*out), make([]float32, nb*in), []float32{0}, int32(nb), int32(in), int32(out), vec,
			float32(0.01), float32(0.9), float32(0.999), float32(1e-7), int32(0), int32(0), int32(0), float32(0))
		if vec == 0 && err != nil {
			t.Errorf("dense_wgrad_adam, rows of %d floats, vec 0: %v", in, err)
		}
		if vec == 1 && (err == nil || !strings.Contains(err.Error(), "dense_wgrad_adam made a 16-byte access") || !strings.Contains(err.Error(), "not 16-byte aligned")) {
			t.Errorf("dense_wgrad_adam, rows of %d floats, vec 1: %v; want the misaligned access reported", in, err)
		}
	}
}

// TestEmuStepInc: step_inc adds 1 to each of its n counts, and to
// nothing past them.
func TestEmuStepInc(t *testing.T) {
	step := []float32{0, 5, 9, 2, 7}
	launch(t, "step_inc", 1, 256, step, int32(4))
	if want := []float32{1, 6, 10, 3, 7}; !slices.Equal(step, want) {
		t.Errorf("step_inc over 4 counts: %v, want %v", step, want)
	}
}

func TestEmuFill(t *testing.T) {
	const n = 300
	f := make([]float32, n+1)
	launch(t, "fill_f32", grid(n), block, f, float32(2.5), int64(n))
	i := make([]int32, n+1)
	launch(t, "fill_i32", grid(n), block, i, int32(-7), int64(n))
	u := make([]uint8, n+1)
	launch(t, "fill_u8", grid(n), block, u, int32(200), int64(n))
	for k := 0; k < n; k++ {
		if f[k] != 2.5 || i[k] != -7 || u[k] != 200 {
			t.Fatalf("element %d: %v %v %v", k, f[k], i[k], u[k])
		}
	}
	if f[n] != 0 || i[n] != 0 || u[n] != 0 {
		t.Errorf("fill wrote past n: %v %v %v", f[n], i[n], u[n])
	}
}

// TestEmuConv3: conv3_pool against the float64 convolution with bias and
// activation, its p and arg the same as maxpool's over the y it wrote, and
// without the pooling (null p and arg) the same y;
// conv3_data against the float64 data gradient. Every block size
// Conv3Block can choose, input channels not a multiple of CONV3_CT, odd
// window counts, planes at the shared memory's limit (14×14, 14×20).
func TestEmuConv3(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 15))
	for _, c := range []struct {
		s  engine.ConvShape
		kb int
	}{
		{engine.ConvShape{N: 3, C: 32, H: 14, W: 14, K: 64, R: 3, S: 3, Pad: 1}, 32}, // the reference network's conv2
		{engine.ConvShape{N: 2, C: 32, H: 14, W: 14, K: 32, R: 3, S: 3, Pad: 1}, 16},
		{engine.ConvShape{N: 2, C: 13, H: 6, W: 10, K: 16, R: 3, S: 3, Pad: 1}, 8},  // 13 = 8 + 5 channels
		{engine.ConvShape{N: 2, C: 3, H: 2, W: 2, K: 8, R: 3, S: 3, Pad: 1}, 8},     // one window
		{engine.ConvShape{N: 1, C: 16, H: 14, W: 14, K: 24, R: 3, S: 3, Pad: 1}, 8}, // 24: only 8 divides it
		{engine.ConvShape{N: 2, C: 8, H: 4, W: 12, K: 16, R: 3, S: 3, Pad: 1}, 16},
		{engine.ConvShape{N: 2, C: 16, H: 14, W: 20, K: 32, R: 3, S: 3, Pad: 1}, 32}, // 16×23 = 368 floats a plane: the limit; 280 threads
	} {
		s := c.s
		P, Q := s.P(), s.Q()
		ps := engine.PoolShape{N: s.N, C: s.K, H: P, W: Q, Size: 2}
		total, outs := s.N*s.K*P*Q, s.N*s.K*ps.OH()*ps.OW()
		threads := ps.OH() * ps.OW() * c.kb / Conv3Thread
		xv := f64(f32(randF(r, s.N*s.C*s.H*s.W, 1)))
		wv := f64(f32(randF(r, s.K*s.C*9, 1/math.Sqrt(float64(s.C*9)))))
		bv := f64(f32(randF(r, s.K, 0.1)))
		for _, act := range acts {
			name := fmt.Sprintf("%v %+v kb %d", act, s, c.kb)
			fy, fp, farg := make([]float32, total+1), make([]float32, outs+1), make([]int32, outs+1)
			fy[total], fp[outs], farg[outs] = 7, 7, 7
			launch(t, "conv3_pool", s.N*s.K/c.kb, threads, fy, fp, farg, f32(xv), f32(wv), f32(bv),
				int32(s.C), int32(s.K), int32(s.H), int32(s.W), int32(c.kb), int32(act))
			enginetest.Close(t, "conv3_pool y "+name, fy[:total], enginetest.RefConv(xv, wv, bv, s, act), 1e-6, 1e-5)
			p, arg := make([]float32, outs), make([]int32, outs)
			launch(t, "maxpool", grid(outs), block, fy[:total], p, arg, int32(s.N*s.K), int32(P), int32(Q), int32(2))
			samePooled(t, "conv3_pool "+name, fy, fp, farg, fy[:total], p, arg)
			// Without the pooling (a convolution alone): the same y.
			cy := make([]float32, total)
			launch(t, "conv3_pool", s.N*s.K/c.kb, threads, cy, null{}, null{}, f32(xv), f32(wv), f32(bv),
				int32(s.C), int32(s.K), int32(s.H), int32(s.W), int32(c.kb), int32(act))
			sameBits(t, "conv3_pool without pooling "+name, cy, fy[:total])
		}
		// The data gradient: dz of the output's shape into dx of the
		// input's; its blocks take the input's channels.
		kb := Conv3Block(s.C, s.N, s.H, s.W, 1)
		if kb == 0 {
			continue // C not a multiple of Conv3Thread
		}
		dz := f64(f32(randF(r, total, 1)))
		n := s.N * s.C * s.H * s.W
		dx := make([]float32, n+1)
		dx[n] = 7
		launch(t, "conv3_data", s.N*s.C/kb, ps.OH()*ps.OW()*kb/Conv3Thread, dx, f32(dz), f32(wv),
			int32(s.K), int32(s.C), int32(s.H), int32(s.W), int32(kb))
		rdx, _, _ := enginetest.RefConvBackward(xv, wv, make([]float64, total), dz, s, engine.Identity)
		enginetest.Close(t, fmt.Sprintf("conv3_data dx %+v kb %d", s, kb), dx[:n], rdx, 1e-6, 1e-5)
		if dx[n] != 7 {
			t.Errorf("conv3_data %+v wrote past dx", s)
		}
	}
}

// TestConv3Block: the block's channels as many as still fill the GPU, a
// multiple of Conv3Thread dividing k; 0 for shapes the kernels refuse.
func TestConv3Block(t *testing.T) {
	for _, c := range []struct{ k, nb, h, w, mp, want int }{
		{64, 128, 14, 14, 132, 32}, // conv2 at batch 128: 256 blocks
		{64, 64, 14, 14, 132, 32},  // batch 64: 128 blocks, 4 SMs idle
		{64, 32, 14, 14, 132, 16},  // batch 32: 128 blocks, not 64
		{32, 128, 14, 14, 132, 32}, // conv2's data gradient: a block an image
		{32, 100, 14, 14, 132, 16}, // 100 blocks would leave 32 SMs idle
		{32, 1, 14, 14, 132, 8},    // too few images for any: the most blocks
		{24, 4, 14, 14, 1, 8},      // 24: only 8 of 32, 16, 8 divides it
		{64, 1, 12, 14, 1, 32},     // 14×23 = 322 floats a plane
		{64, 1, 13, 14, 1, 0},      // odd height
		{64, 1, 16, 14, 1, 0},      // 18×23 = 414 > 368 floats a plane
		{64, 1, 14, 20, 1, 32},     // 16×23 = 368: 70 windows, 280 threads
		{64, 1, 14, 22, 1, 0},      // 16×39 = 624 floats
		{12, 8, 14, 14, 1, 0},      // 12 not a multiple of 8
		{64, 8, 0, 0, 1, 0},
	} {
		if got := Conv3Block(c.k, c.nb, c.h, c.w, c.mp); got != c.want {
			t.Errorf("Conv3Block(k %d, nb %d, %d×%d, mp %d) = %d, want %d", c.k, c.nb, c.h, c.w, c.mp, got, c.want)
		}
	}
}

// TestEmuConv3Filter: conv3_filter's partial sums, added by sum_partials
// slice by slice, against the float64 filter gradient, with slices of
// uneven row counts, slices that span images, one slice, and as many
// slices as rows.
func TestEmuConv3Filter(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 16))
	for _, c := range []struct {
		s      engine.ConvShape
		splits int
	}{
		{engine.ConvShape{N: 3, C: 32, H: 14, W: 14, K: 64, R: 3, S: 3, Pad: 1}, 5}, // the reference network's conv2
		{engine.ConvShape{N: 2, C: 5, H: 6, W: 10, K: 16, R: 3, S: 3, Pad: 1}, 1},
		{engine.ConvShape{N: 2, C: 3, H: 4, W: 3, K: 8, R: 3, S: 3, Pad: 1}, 8}, // a slice a row
		{engine.ConvShape{N: 4, C: 32, H: 7, W: 14, K: 8, R: 3, S: 3, Pad: 1}, 3},
	} {
		s := c.s
		name := fmt.Sprintf("%+v splits %d", s, c.splits)
		if got := Conv3FilterSplits(s.C, s.K, s.N, s.H, s.W, c.splits); got != c.splits {
			t.Fatalf("Conv3FilterSplits for %s = %d, want %d", name, got, c.splits)
		}
		xv := f64(f32(randF(r, s.N*s.C*s.H*s.W, 1)))
		dz := f64(f32(randF(r, s.N*s.K*s.H*s.W, 1)))
		nw := s.K * s.C * 9
		part := make([]float32, c.splits*nw+1)
		part[c.splits*nw] = 7
		launch(t, "conv3_filter", c.splits, s.C*s.K/Conv3FilterThread, part, f32(dz), f32(xv),
			int32(s.N), int32(s.C), int32(s.K), int32(s.H), int32(s.W), int32(c.splits))
		if part[c.splits*nw] != 7 {
			t.Errorf("conv3_filter %s wrote past its partial sums", name)
		}
		dw := make([]float32, nw+1)
		dw[nw] = 7
		launch(t, "sum_partials", grid(nw), block, dw, part[:c.splits*nw], int32(nw), int32(c.splits), int32(1), int32(nw))
		if dw[nw] != 7 {
			t.Errorf("sum_partials %s wrote past dw", name)
		}
		_, rdw, _ := enginetest.RefConvBackward(xv, make([]float64, nw), make([]float64, len(dz)), dz, s, engine.Identity)
		sc := math.Sqrt(float64(s.N * s.H * s.W))
		enginetest.Close(t, "conv3_filter dw "+name, dw[:nw], rdw, 1e-6*sc, 1e-5)
	}
}

// TestConv3FilterSplits: a slice a multiprocessor, at most a row each; 0
// where the kernel's shared memory does not hold the shape.
func TestConv3FilterSplits(t *testing.T) {
	for _, c := range []struct{ cin, k, nb, h, w, mp, want int }{
		{32, 64, 128, 14, 14, 132, 132}, // conv2 at batch 128
		{32, 64, 2, 14, 14, 132, 28},    // 28 rows
		{33, 64, 8, 14, 14, 132, 0},     // too many input channels
		{32, 72, 8, 14, 14, 132, 0},     // too many output channels
		{32, 12, 8, 14, 14, 132, 0},     // 12 not a multiple of 8
		{32, 64, 8, 14, 16, 132, 0},     // rows too long
		{1, 8, 1, 1, 1, 0, 1},
	} {
		if got := Conv3FilterSplits(c.cin, c.k, c.nb, c.h, c.w, c.mp); got != c.want {
			t.Errorf("Conv3FilterSplits(%d, %d, %d, %d, %d, %d) = %d, want %d", c.cin, c.k, c.nb, c.h, c.w, c.mp, got, c.want)
		}
	}
}
