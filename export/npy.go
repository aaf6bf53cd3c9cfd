// npy.go: one NumPy .npy file per parameter tensor (format version 1.0,
// little-endian float32, C order), with the header numpy.save writes.

package export

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fileutil"
)

// NPY writes dir/<name>.npy for every parameter (e.g. conv1.weight.npy,
// shape (32,1,3,3)) and returns the paths: all of them, or on a failed
// write none (what was there before is as it was, and a folder made for
// them is removed).
func NPY(ck *engine.Checkpoint, dir string) ([]string, error) {
	undo, err := fileutil.MkdirAll(dir, 0o755)
	if err != nil {
		return nil, err
	}
	var paths []string
	var files []fileutil.File
	for _, s := range ck.Arch.Params() {
		p := filepath.Join(dir, s.Name+".npy")
		files = append(files, fileutil.File{Path: p, Data: npyFloat32(s.Shape, ck.Params[s.Off:s.Off+s.Len()]), Perm: fileutil.KeepMode(p, 0o644)})
		paths = append(paths, p)
	}
	if err := fileutil.WriteAtomicSet(files); err != nil {
		undo() // the folders made for them, empty again
		return nil, err
	}
	return paths, nil
}

// npyAlign is what numpy.save pads the magic, version, header length and
// header to: a multiple of 64 bytes, so that the data is aligned.
const npyAlign = 64

// npyFloat32 is the .npy file of data, an array of shape shape: the magic,
// version 1.0, the header's length (2 bytes, little-endian), the header (a
// Python dict literal, padded with spaces, ending in a newline), then the
// values as little-endian float32 in C order.
func npyFloat32(shape []int, data []float32) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		tuple = "(" + dims[0] + ",)" // Python's one-element tuple
	}
	header := "{'descr': '<f4', 'fortran_order': False, 'shape': " + tuple + ", }"
	const prefix = 10 // magic (6), version (2), header length (2)
	pad := npyAlign - (prefix+len(header)+1)%npyAlign
	if pad == npyAlign {
		pad = 0
	}
	header += strings.Repeat(" ", pad) + "\n"
	b := make([]byte, 0, prefix+len(header)+4*len(data))
	b = append(b, "\x93NUMPY\x01\x00"...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(header)))
	b = append(b, header...)
	for _, v := range data {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}
