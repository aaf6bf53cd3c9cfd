// fatbin_test.go: the embedded fatbin is a well-formed fat binary with
// SASS for every architecture make kernels builds (sm_70 to sm_90, each a
// CUDA ELF for its architecture) and the compute_60 PTX in the pinned
// nvcc's ISA; a damaged or incomplete one is caught.

package kernels

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// What make kernels builds: SASS for these architectures, and PTX for
// compute_60 (SASS_ARCHS in the Makefile).
var (
	sassArchs = []int{70, 75, 80, 86, 89, 90}
	ptxArch   = 60
)

// checkEntries checks that entries hold SASS for every architecture of
// sassArchs (each payload, where not compressed, a CUDA ELF for its
// architecture) and exactly one PTX, for compute_ptxArch in PTX ISA isa.
func checkEntries(entries []fatEntry, isa string) error {
	var errs []string
	for _, a := range sassArchs {
		i := slices.IndexFunc(entries, func(e fatEntry) bool { return e.Kind == kindELF && e.Arch == a })
		if i < 0 {
			errs = append(errs, fmt.Sprintf("no SASS (ELF entry) for sm_%d", a))
			continue
		}
		p := entries[i].Payload
		switch {
		case entries[i].Flags&compressed != 0:
			if len(p) == 0 || entries[i].UncompressedSize == 0 {
				errs = append(errs, fmt.Sprintf("sm_%d: compressed entry with no data: %v", a, entries[i]))
			}
		case len(p) < 52 || !bytes.HasPrefix(p, []byte("\x7fELF")):
			errs = append(errs, fmt.Sprintf("sm_%d: the payload is not an ELF file: %v", a, entries[i]))
		case binary.LittleEndian.Uint16(p[18:]) != emCUDA || int(p[48]) != a:
			errs = append(errs, fmt.Sprintf("sm_%d: the ELF is for machine %d, architecture sm_%d; want machine %d (CUDA), sm_%d",
				a, binary.LittleEndian.Uint16(p[18:]), p[48], emCUDA, a))
		}
	}
	var ptx []fatEntry
	for _, e := range entries {
		if e.Kind == kindPTX {
			ptx = append(ptx, e)
		}
	}
	if len(ptx) != 1 || ptx[0].Arch != ptxArch || fmt.Sprintf("%d.%d", ptx[0].Major, ptx[0].Minor) != isa || len(ptx[0].Payload) == 0 {
		errs = append(errs, fmt.Sprintf("PTX entries %v; want one, for compute_%d in ISA %s (kernels.ptx's)", ptx, ptxArch, isa))
	}
	if errs != nil {
		return fmt.Errorf("%s (run 'make kernels')", strings.Join(errs, "; "))
	}
	return nil
}

// TestFatbin: the embedded fatbin parses, fills its file exactly, and has
// SASS for sm_70 to sm_90 and the compute_60 PTX in kernels.ptx's ISA.
func TestFatbin(t *testing.T) {
	entries, err := parseFatbin(Fatbin)
	if err != nil {
		t.Fatalf("kernels.fatbin: %v (run 'make kernels')", err)
	}
	m := regexp.MustCompile(`(?m)^\.version (\d+\.\d+)$`).FindStringSubmatch(PTX)
	if m == nil {
		t.Fatal("kernels.ptx has no .version line")
	}
	if err := checkEntries(entries, m[1]); err != nil {
		t.Errorf("kernels.fatbin: %v", err)
	}
	for _, e := range entries {
		t.Log(e)
	}
	t.Logf("kernels.fatbin: %d bytes, %d entries", len(Fatbin), len(entries))
}

// TestFatbinChecksFail: the checks above catch a fatbin cut short, with
// a wrong magic or version, with an entry overrunning it, without the
// sm_90 SASS, with an ELF for the wrong architecture, or with PTX of
// another ISA.
func TestFatbinChecksFail(t *testing.T) {
	good, err := parseFatbin(Fatbin)
	if err != nil {
		t.Fatal(err)
	}
	changed := func(at int, v ...byte) []byte {
		b := slices.Clone(Fatbin)
		copy(b[at:], v)
		return b
	}
	for name, b := range map[string][]byte{
		"truncated by one byte":     Fatbin[:len(Fatbin)-1],
		"cut at its first NUL byte": Fatbin[:bytes.IndexByte(Fatbin, 0)],
		"wrong magic":               changed(0, 0x51),
		"version 2":                 changed(4, 2),
		"first entry overruns":      changed(fatHeader+8, 0xff, 0xff, 0xff, 0x7f),
		"unknown entry kind":        changed(fatHeader, 7),
	} {
		if _, err := parseFatbin(b); err == nil {
			t.Errorf("%s: parsed without an error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	no90 := slices.DeleteFunc(slices.Clone(good), func(e fatEntry) bool { return e.Kind == kindELF && e.Arch == 90 })
	if err := checkEntries(no90, "7.8"); err == nil || !strings.Contains(err.Error(), "sm_90") {
		t.Errorf("without the sm_90 SASS: %v, want an error naming sm_90", err)
	}
	wrongELF := slices.Clone(good)
	for i, e := range wrongELF {
		if e.Kind == kindELF && e.Arch == 80 {
			wrongELF[i].Arch = 86 // the sm_80 ELF in the sm_86 entry
		}
	}
	wrongELF = slices.DeleteFunc(wrongELF, func(e fatEntry) bool { return e.Kind == kindELF && e.Arch == 86 && e.Payload[48] == 86 })
	if err := checkEntries(wrongELF, "7.8"); err == nil || !strings.Contains(err.Error(), "sm_86") {
		t.Errorf("with sm_80's ELF as sm_86's: %v, want an error naming sm_86", err)
	}
	if err := checkEntries(good, "8.0"); err == nil || !strings.Contains(err.Error(), "PTX") {
		t.Errorf("against PTX ISA 8.0: %v, want an error about the PTX", err)
	}
}

// TestHasSASS: the GPUs that load our SASS as it is (Volta to Hopper, a
// minor version loading the SASS below it) and those that need the PTX
// compiled (Pascal, Blackwell and newer), as read from the fatbin.
func TestHasSASS(t *testing.T) {
	if got := SASS(); !slices.Equal(got, sassArchs) {
		t.Fatalf("SASS() = %v, want %v", got, sassArchs)
	}
	for _, c := range []struct {
		major, minor int
		want         bool
	}{{6, 0, false}, {6, 1, false}, {7, 0, true}, {7, 2, true}, {7, 5, true}, {8, 0, true}, {8, 7, true}, {8, 9, true}, {9, 0, true}, {10, 0, false}, {12, 0, false}} {
		if got := HasSASS(c.major, c.minor); got != c.want {
			t.Errorf("HasSASS(%d, %d) = %v, want %v", c.major, c.minor, got, c.want)
		}
	}
}
