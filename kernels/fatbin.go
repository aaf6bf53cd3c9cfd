// fatbin.go: reads the fat binary's entries (parseFatbin), for the
// tests' checks of what make kernels built and for SASS/HasSASS, which
// say which GPUs load their machine code as it is and which need the
// driver to compile the PTX.

package kernels

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// The fat binary container, as nvcc writes it (little-endian): a 16-byte
// header (magic, version 1, header size 16, then the size of what
// follows), then entries back to back, each a header of at least 64
// bytes followed by its payload.
const (
	fatMagic    = 0xBA55ED50
	fatHeader   = 16
	entryHeader = 64
	kindPTX     = 1
	kindELF     = 2
	compressed  = 0x2000 // entry flag: the payload is compressed
	emCUDA      = 190    // ELF e_machine of a CUDA ELF
)

// fatEntry is one entry of a fat binary.
type fatEntry struct {
	Kind             int // kindPTX or kindELF
	Arch             int // e.g. 90 for sm_90, 60 for compute_60
	Major, Minor     int // the code version: the PTX ISA for PTX
	Flags            uint64
	Offset           int // of the payload in the fat binary
	Payload          []byte
	UncompressedSize uint64 // for a compressed payload
}

func (e fatEntry) String() string {
	kind := map[int]string{kindPTX: "PTX", kindELF: "ELF"}[e.Kind]
	return fmt.Sprintf("%s arch %d (code version %d.%d, %d bytes at %d, flags %#x)", kind, e.Arch, e.Major, e.Minor, len(e.Payload), e.Offset, e.Flags)
}

// parseFatbin reads a fat binary, checking that its header is one we know
// and that its entries fill it exactly.
func parseFatbin(b []byte) ([]fatEntry, error) {
	le := binary.LittleEndian
	if len(b) < fatHeader {
		return nil, fmt.Errorf("%d bytes: shorter than the %d-byte header", len(b), fatHeader)
	}
	if m := le.Uint32(b); m != fatMagic {
		return nil, fmt.Errorf("magic %#x, want %#x", m, fatMagic)
	}
	if v := le.Uint16(b[4:]); v != 1 {
		return nil, fmt.Errorf("version %d, want 1", v)
	}
	if h := le.Uint16(b[6:]); h != fatHeader {
		return nil, fmt.Errorf("header size %d, want %d", h, fatHeader)
	}
	if size := le.Uint64(b[8:]); size != uint64(len(b)-fatHeader) {
		return nil, fmt.Errorf("the header gives %d bytes after it, the file has %d", size, len(b)-fatHeader)
	}
	var out []fatEntry
	for off := fatHeader; off < len(b); {
		if len(b)-off < entryHeader {
			return nil, fmt.Errorf("entry %d at %d: %d bytes left, less than an entry header", len(out)+1, off, len(b)-off)
		}
		e := b[off:]
		hsize, size := int(le.Uint32(e[4:])), le.Uint64(e[8:])
		if hsize < entryHeader || hsize > len(e) || size > uint64(len(e)-hsize) {
			return nil, fmt.Errorf("entry %d at %d: header %d bytes and payload %d bytes overrun the %d bytes left", len(out)+1, off, hsize, size, len(e))
		}
		f := fatEntry{Kind: int(le.Uint16(e)), Minor: int(le.Uint16(e[24:])), Major: int(le.Uint16(e[26:])), Arch: int(le.Uint32(e[28:])),
			Flags: le.Uint64(e[40:]), UncompressedSize: le.Uint64(e[56:]), Offset: off + hsize, Payload: e[hsize : hsize+int(size)]}
		if f.Kind != kindPTX && f.Kind != kindELF {
			return nil, fmt.Errorf("entry %d at %d: kind %d, want %d (PTX) or %d (ELF)", len(out)+1, off, f.Kind, kindPTX, kindELF)
		}
		out = append(out, f)
		off += hsize + int(size)
	}
	return out, nil
}

// SASS returns the architectures the embedded fatbin has SASS for, in
// its order (e.g. 86 for sm_86); nil where it does not parse (the tests
// say why).
func SASS() []int {
	entries, err := parseFatbin(Fatbin)
	if err != nil {
		return nil
	}
	var archs []int
	for _, e := range entries {
		if e.Kind == kindELF && !slices.Contains(archs, e.Arch) {
			archs = append(archs, e.Arch)
		}
	}
	return archs
}

// HasSASS reports whether the embedded fatbin has SASS that a GPU of
// compute capability major.minor runs: one for its major version and a
// minor version not above its own (sm_86's runs on 8.7). A GPU without
// runs the PTX, which the driver compiles.
func HasSASS(major, minor int) bool {
	return slices.ContainsFunc(SASS(), func(a int) bool { return a/10 == major && a%10 <= minor })
}
