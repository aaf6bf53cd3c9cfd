//go:build cgo && !windows

// emu_test.go: the emulator's own checks: memory reads 0xFF until written,
// a launch refuses arguments that do not match the kernel, and a write past
// either end of an allocation is reported with the kernel's name.

package emu

import (
	"math"
	"strings"
	"testing"
)

func f32(v float32) Arg { return Arg{Bits: uint64(math.Float32bits(v)), Size: 4} }
func i64(v int64) Arg   { return Arg{Bits: uint64(v), Size: 8} }
func ptr(p uint64) Arg  { return Arg{Bits: p, Size: 8} }

func TestFillAndFreshMemory(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	p, err := m.Alloc(40)
	if err != nil {
		t.Fatal(err)
	}
	if p%align != 0 {
		t.Errorf("address %#x not %d-byte aligned", p, align)
	}
	v, err := m.Float32s(p, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range v {
		if !math.IsNaN(float64(x)) {
			t.Fatalf("fresh memory element %d is %v, want NaN", i, x)
		}
	}
	// 10 threads in blocks of 4: the last block's two spare threads must
	// stay inside.
	if err := m.Launch("fill_f32", 3, 4, []Arg{ptr(p), f32(2.5), i64(10)}); err != nil {
		t.Fatal(err)
	}
	for i, x := range v {
		if x != 2.5 {
			t.Fatalf("element %d is %v after fill_f32, want 2.5", i, x)
		}
	}
	if err := m.Free(p); err != nil {
		t.Fatal(err)
	}
	if m.Live() != 0 {
		t.Errorf("%d allocations live after Free", m.Live())
	}
}

func TestWritePastEndReported(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	p, _ := m.Alloc(40)
	err := m.Launch("fill_f32", 1, 16, []Arg{ptr(p), f32(1), i64(11)})
	if err == nil || !strings.Contains(err.Error(), "fill_f32") || !strings.Contains(err.Error(), "past the end of a 40-byte allocation") {
		t.Errorf("fill_f32 of 11 floats into 10: %v, want a write past the end naming the kernel", err)
	}
}

func TestLaunchChecksArguments(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	p, _ := m.Alloc(40)
	q, _ := m.Alloc(8)
	if err := m.Free(q); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []Arg
		want string
	}{
		{"fill_f32", []Arg{ptr(p), f32(1)}, "takes 3 arguments, launched with 2"},
		{"fill_f32", []Arg{ptr(p), i64(1), i64(10)}, "argument 1 (F) is 8 bytes, want 4"},
		{"fill_f32", []Arg{ptr(q), f32(1), i64(2)}, "argument 0 is"},
		{"fill_f32", []Arg{ptr(p + 40), f32(1), i64(2)}, "in no allocation"},
		{"no_such_kernel", nil, "no kernel no_such_kernel"},
	} {
		if err := m.Launch(c.name, 1, 32, c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: %v, want an error containing %q", c.name, c.args, err, c.want)
		}
	}
	if err := m.Free(q); err == nil {
		t.Error("a second Free of the same address succeeded")
	}
	if _, err := m.Bytes(p+36, 8); err == nil {
		t.Error("Bytes past the end of an allocation succeeded")
	}
}

// TestSynchronisingKernel runs a block-wide tree reduction (bias_grad)
// whose result depends on every barrier holding.
func TestSynchronisingKernel(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	const nb, k, inner = 5, 3, 70
	dz, _ := m.Alloc(4 * nb * k * inner)
	db, _ := m.Alloc(4 * k)
	v, _ := m.Float32s(dz, nb*k*inner)
	for i := range v {
		v[i] = float32(i%7) - 3
	}
	i32 := func(x int) Arg { return Arg{Bits: uint64(uint32(int32(x))), Size: 4} }
	if err := m.Launch("bias_grad", k, 256, []Arg{ptr(db), ptr(dz), i32(nb), i32(k), i32(inner)}); err != nil {
		t.Fatal(err)
	}
	got, _ := m.Float32s(db, k)
	for c := 0; c < k; c++ {
		want := 0.0
		for n := 0; n < nb; n++ {
			for i := 0; i < inner; i++ {
				want += float64(v[(n*k+c)*inner+i])
			}
		}
		if float64(got[c]) != want {
			t.Errorf("bias_grad channel %d: %v, want %v", c, got[c], want)
		}
	}
}
