// Package export writes trained models in formats other tools read: ONNX
// (for ONNX Runtime and friends) and NumPy .npy files.
//
// onnx.go: the ONNX model, encoded with google.golang.org/protobuf's
// protowire package field by field. Only five ONNX messages are needed
// (Model, Graph, Node, Attribute, Tensor, plus the value-info types), and
// the Go modules that carry generated ONNX protos are unmaintained, so
// hand-encoding against onnx.proto's field numbers is the smaller, stable
// dependency.
package export

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cnngpu/cnngpu/engine"
	"google.golang.org/protobuf/encoding/protowire"
)

// ONNX constants (onnx.proto).
const (
	onnxIRVersion = 7  // the IR version of opset 13
	onnxOpset     = 13 // Conv, Relu/Sigmoid/Tanh, MaxPool, Flatten, Gemm, Softmax
	onnxFloat     = 1  // TensorProto.DataType FLOAT
	attrInt       = 2  // AttributeProto.AttributeType INT
	attrInts      = 7  // AttributeProto.AttributeType INTS
)

// Input and output names of the exported graph.
const (
	ONNXInput  = "image"         // float32 [N,1,28,28] in [0,1]
	ONNXOutput = "probabilities" // float32 [N,10]
)

type pb []byte

func (m *pb) bytes(field protowire.Number, b []byte) {
	*m = protowire.AppendTag(*m, field, protowire.BytesType)
	*m = protowire.AppendBytes(*m, b)
}

func (m *pb) str(field protowire.Number, s string) { m.bytes(field, []byte(s)) }

func (m *pb) varint(field protowire.Number, v int64) {
	*m = protowire.AppendTag(*m, field, protowire.VarintType)
	*m = protowire.AppendVarint(*m, uint64(v))
}

// attribute: AttributeProto {name=1, i=3, ints=8, type=20}.
func attrI(name string, v int64) []byte {
	var a pb
	a.str(1, name)
	a.varint(20, attrInt)
	a.varint(3, v)
	return a
}

func attrIs(name string, vs ...int64) []byte {
	var a pb
	a.str(1, name)
	a.varint(20, attrInts)
	for _, v := range vs {
		a.varint(8, v)
	}
	return a
}

// node: NodeProto {input=1, output=2, name=3, op_type=4, attribute=5}.
func node(op, name string, in []string, out string, attrs ...[]byte) []byte {
	var n pb
	for _, i := range in {
		n.str(1, i)
	}
	n.str(2, out)
	n.str(3, name)
	n.str(4, op)
	for _, a := range attrs {
		n.bytes(5, a)
	}
	return n
}

// tensor: TensorProto {dims=1, data_type=2, name=8, raw_data=9}.
func tensor(name string, shape []int, data []float32) []byte {
	var t pb
	for _, d := range shape {
		t.varint(1, int64(d))
	}
	t.varint(2, onnxFloat)
	t.str(8, name)
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	t.bytes(9, raw)
	return t
}

// valueInfo: ValueInfoProto {name=1, type=2: TypeProto {tensor_type=1:
// {elem_type=1, shape=2: TensorShapeProto {dim=1: {dim_value=1 |
// dim_param=2}}}}}. A negative dimension is the symbolic batch "N".
func valueInfo(name string, dims ...int) []byte {
	var shape pb
	for _, d := range dims {
		var dim pb
		if d < 0 {
			dim.str(2, "N")
		} else {
			dim.varint(1, int64(d))
		}
		shape.bytes(1, dim)
	}
	var tt pb
	tt.varint(1, onnxFloat)
	tt.bytes(2, shape)
	var typ pb
	typ.bytes(1, tt)
	var v pb
	v.str(1, name)
	v.bytes(2, typ)
	return v
}

// ONNX returns the ONNX model (opset 13) of a checkpoint: input "image"
// [N,1,28,28] float32 in [0,1], output "probabilities" [N,10].
func ONNX(ck *engine.Checkpoint, producerVersion string) ([]byte, error) {
	arch := ck.Arch
	var act string
	switch arch.Act {
	case engine.ReLU:
		act = "Relu"
	case engine.Sigmoid:
		act = "Sigmoid"
	case engine.Tanh:
		act = "Tanh"
	default:
		return nil, fmt.Errorf("export: activation %v has no ONNX operator here", arch.Act)
	}
	k, p := int64(arch.Kernel), int64(arch.Pad)
	conv := func(name, in, w, b, out string) []byte {
		return node("Conv", name, []string{in, w, b}, out,
			attrIs("kernel_shape", k, k), attrIs("pads", p, p, p, p), attrIs("strides", 1, 1), attrIs("dilations", 1, 1), attrI("group", 1))
	}
	pool := func(name, in, out string) []byte {
		return node("MaxPool", name, []string{in}, out, attrIs("kernel_shape", 2, 2), attrIs("strides", 2, 2))
	}
	gemm := func(name, in, w, b, out string) []byte {
		return node("Gemm", name, []string{in, w, b}, out, attrI("transB", 1))
	}
	nodes := [][]byte{
		conv("conv1", ONNXInput, "conv1.weight", "conv1.bias", "conv1_out"),
		node(act, "act1", []string{"conv1_out"}, "act1_out"),
		pool("pool1", "act1_out", "pool1_out"),
		conv("conv2", "pool1_out", "conv2.weight", "conv2.bias", "conv2_out"),
		node(act, "act2", []string{"conv2_out"}, "act2_out"),
		pool("pool2", "act2_out", "pool2_out"),
		node("Flatten", "flatten", []string{"pool2_out"}, "flat", attrI("axis", 1)),
		gemm("fc1", "flat", "fc1.weight", "fc1.bias", "fc1_out"),
		node(act, "act3", []string{"fc1_out"}, "act3_out"),
		gemm("fc2", "act3_out", "fc2.weight", "fc2.bias", "logits"),
		node("Softmax", "softmax", []string{"logits"}, ONNXOutput, attrI("axis", 1)),
	}
	// GraphProto {node=1, name=2, initializer=5, input=11, output=12}.
	var g pb
	for _, n := range nodes {
		g.bytes(1, n)
	}
	g.str(2, "cnngpu_"+arch.Preset)
	for _, s := range arch.Params() {
		g.bytes(5, tensor(s.Name, s.Shape, ck.Params[s.Off:s.Off+s.Len()]))
	}
	g.bytes(11, valueInfo(ONNXInput, -1, 1, engine.ImageSide, engine.ImageSide))
	g.bytes(12, valueInfo(ONNXOutput, -1, engine.Classes))
	// ModelProto {ir_version=1, producer_name=2, producer_version=3,
	// doc_string=6, graph=7, opset_import=8: {domain=1, version=2}}.
	var opset pb
	opset.str(1, "")
	opset.varint(2, onnxOpset)
	var m pb
	m.varint(1, onnxIRVersion)
	m.str(2, ProducerName)
	m.str(3, producerVersion)
	m.str(6, fmt.Sprintf("MNIST CNN (%s, %s). Input %q: float32 [N,1,28,28], pixels in [0,1], ink bright on dark. Output %q: float32 [N,10].",
		arch.Preset, arch.Act, ONNXInput, ONNXOutput))
	m.bytes(7, g)
	m.bytes(8, opset)
	return m, nil
}

// ProducerName is the producer_name written into exported models.
const ProducerName = "cnngpu"

// IsOurONNX reports whether b, the start of a file (a few hundred bytes
// suffice), is an ONNX model written by ONNX: a ModelProto whose
// producer_name, read before the graph, is ProducerName.
func IsOurONNX(b []byte) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if num == 2 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			return n >= 0 && string(v) == ProducerName
		}
		if num != 1 || typ != protowire.VarintType {
			return false // ONNX writes ir_version, then producer_name
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return false
		}
		b = b[n:]
	}
	return false
}
