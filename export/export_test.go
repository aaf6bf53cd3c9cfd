// export_test.go: the ONNX file decodes back (with protowire) to the graph
// intended: opset 13, the nodes in order with their attributes, every
// initializer with its shape and exact bytes, named input and output; and
// the .npy files carry NumPy headers with the right shapes and the data.

package export

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
	"google.golang.org/protobuf/encoding/protowire"
)

// fields decodes one message level into field number -> raw values (bytes
// for length-delimited fields, varints as uint64).
func fields(t *testing.T, b []byte) map[protowire.Number][]any {
	t.Helper()
	out := map[protowire.Number][]any{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				t.Fatal("bad varint")
			}
			out[num] = append(out[num], v)
			b = b[n:]
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				t.Fatal("bad bytes")
			}
			out[num] = append(out[num], v)
			b = b[n:]
		default:
			t.Fatalf("unexpected wire type %v", typ)
		}
	}
	return out
}

func checkpoint(t *testing.T, preset string, act engine.Activation) *engine.Checkpoint {
	arch, err := engine.NewArch(preset, act)
	if err != nil {
		t.Fatal(err)
	}
	return &engine.Checkpoint{Arch: arch, Params: arch.GlorotInit(7)}
}

func TestONNXStructure(t *testing.T) {
	for _, c := range []struct {
		preset string
		act    engine.Activation
		op     string
		k, p   uint64
	}{{"reference", engine.ReLU, "Relu", 3, 1}, {"original", engine.Tanh, "Tanh", 5, 0}} {
		ck := checkpoint(t, c.preset, c.act)
		b, err := ONNX(ck, "test")
		if err != nil {
			t.Fatal(err)
		}
		model := fields(t, b)
		if model[1][0].(uint64) != onnxIRVersion {
			t.Errorf("ir_version %v", model[1])
		}
		opset := fields(t, model[8][0].([]byte))
		if opset[2][0].(uint64) != 13 || string(opset[1][0].([]byte)) != "" {
			t.Errorf("opset_import %v", opset)
		}
		graph := fields(t, model[7][0].([]byte))
		var ops []string
		for _, nb := range graph[1] {
			n := fields(t, nb.([]byte))
			op := string(n[4][0].([]byte))
			ops = append(ops, op)
			if op == "Conv" {
				for _, ab := range n[5] {
					a := fields(t, ab.([]byte))
					name := string(a[1][0].([]byte))
					if name == "kernel_shape" && (a[8][0].(uint64) != c.k || a[8][1].(uint64) != c.k) {
						t.Errorf("%s kernel_shape %v", c.preset, a[8])
					}
					if name == "pads" && (len(a[8]) != 4 || a[8][0].(uint64) != c.p) {
						t.Errorf("%s pads %v", c.preset, a[8])
					}
				}
			}
		}
		want := []string{"Conv", c.op, "MaxPool", "Conv", c.op, "MaxPool", "Flatten", "Gemm", c.op, "Gemm", "Softmax"}
		if !slices.Equal(ops, want) {
			t.Errorf("%s nodes %v, want %v", c.preset, ops, want)
		}
		specs := ck.Arch.Params()
		if len(graph[5]) != len(specs) {
			t.Fatalf("%d initializers, want %d", len(graph[5]), len(specs))
		}
		for i, ib := range graph[5] {
			tp := fields(t, ib.([]byte))
			s := specs[i]
			if string(tp[8][0].([]byte)) != s.Name || tp[2][0].(uint64) != onnxFloat {
				t.Errorf("initializer %d: %s", i, tp[8][0])
			}
			var dims []int
			for _, d := range tp[1] {
				dims = append(dims, int(d.(uint64)))
			}
			if !slices.Equal(dims, s.Shape) {
				t.Errorf("%s dims %v, want %v", s.Name, dims, s.Shape)
			}
			raw := tp[9][0].([]byte)
			for j, v := range ck.Params[s.Off : s.Off+s.Len()] {
				if math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:])) != v {
					t.Fatalf("%s element %d differs", s.Name, j)
				}
			}
		}
		in := fields(t, graph[11][0].([]byte))
		out := fields(t, graph[12][0].([]byte))
		if string(in[1][0].([]byte)) != ONNXInput || string(out[1][0].([]byte)) != ONNXOutput {
			t.Errorf("input %s output %s", in[1][0], out[1][0])
		}
	}
}

// The headers numpy.save (NumPy 1.24.2) wrote for float32 arrays of these
// shapes, byte for byte: the .npy files are what NumPy itself would write.
func TestNPYHeaderAsNumPy(t *testing.T) {
	pad := func(n int) string { return strings.Repeat(" ", n) }
	for _, c := range []struct {
		shape []int
		want  string
	}{
		{[]int{32}, "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (32,), }" + pad(59) + "\n"},
		{[]int{32, 1, 3, 3}, "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (32, 1, 3, 3), }" + pad(51) + "\n"},
		{[]int{1000, 3136}, "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 3136), }" + pad(52) + "\n"},
	} {
		n := 1
		for _, d := range c.shape {
			n *= d
		}
		data := make([]float32, n)
		data[n-1] = -1.5
		b := npyFloat32(c.shape, data)
		if len(c.want) != 128 {
			t.Fatalf("test's own header for %v is %d bytes, numpy.save's are 128", c.shape, len(c.want))
		}
		if got := string(b[:min(len(b), len(c.want))]); got != c.want {
			t.Errorf("shape %v: header\n%q\nwant numpy.save's\n%q", c.shape, got, c.want)
		}
		if len(b) != 128+4*n || binary.LittleEndian.Uint32(b[len(b)-4:]) != math.Float32bits(-1.5) {
			t.Errorf("shape %v: %d bytes, last value %#x: want %d bytes ending in -1.5 little-endian", c.shape, len(b), b[len(b)-4:], 128+4*n)
		}
	}
}

func TestNPY(t *testing.T) {
	ck := checkpoint(t, "reference", engine.Sigmoid)
	dir := t.TempDir()
	paths, err := NPY(ck, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 8 {
		t.Fatalf("%d files", len(paths))
	}
	b, err := os.ReadFile(filepath.Join(dir, "conv2.weight.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:6]) != "\x93NUMPY" {
		t.Fatalf("no NumPy magic: %q", b[:10])
	}
	hlen := int(binary.LittleEndian.Uint16(b[8:10]))
	header := string(b[10 : 10+hlen])
	if !strings.Contains(header, "(64, 32, 3, 3)") || !strings.Contains(header, "<f4") {
		t.Errorf("header %q", header)
	}
	data := b[10+hlen:]
	s := ck.Arch.Params()[2]
	if len(data) != 4*s.Len() || math.Float32frombits(binary.LittleEndian.Uint32(data[4*100:])) != ck.Params[s.Off+100] {
		t.Error("npy data differs from the checkpoint")
	}
}
