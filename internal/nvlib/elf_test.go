// elf_test.go: a library built for another processor is said to be.

package nvlib

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestForeignELF: this test binary (built for this processor) is not
// foreign; copies of it with the header's class or machine changed to
// 32-bit, or to arm64 on x86-64 (x86-64 on arm64), are said to be built
// for that, with the path, both found by name on LD_LIBRARY_PATH and as
// a path; a file that is no ELF is not said to be foreign.
func TestForeignELF(t *testing.T) {
	if _, _, ok := hostMachine(); !ok {
		t.Skipf("no ELF machine known for %s", runtime.GOARCH)
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil || len(self) < 20 || string(self[1:4]) != "ELF" {
		t.Skipf("this test binary is no ELF file to copy: %v", err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if why := ForeignELF(write("same.so", self)); why != "" {
		t.Errorf("this processor's own binary: %q", why)
	}
	other, want := uint16(183), "arm64 (aarch64)" // EM_AARCH64
	if runtime.GOARCH == "arm64" {
		other, want = 62, "x86-64" // EM_X86_64
	}
	foreign := append([]byte(nil), self...)
	binary.LittleEndian.PutUint16(foreign[18:], other)
	path := write("libforeign.so.1", foreign)
	t.Setenv("LD_LIBRARY_PATH", "/nonexistent:"+dir)
	for _, name := range []string{path, "libforeign.so.1"} {
		if why := ForeignOnSearchPath(name); !strings.HasPrefix(why, path+" is built for "+want+", and this cnngpu for ") {
			t.Errorf("%s, its machine changed: %q", name, why)
		}
	}
	narrow := append([]byte(nil), self...)
	narrow[4] = 1 // ELFCLASS32: the rest of the header is then read as a 32-bit one's
	if why := ForeignELF(write("narrow.so", narrow)); why != "" && !strings.Contains(why, "32-bit") {
		t.Errorf("its class changed to 32-bit: %q", why)
	}
	if why := ForeignOnSearchPath("libnothere.so.1"); why != "" {
		t.Errorf("a name on no folder: %q", why)
	}
	if why := ForeignELF(write("text.so", []byte("not a library\n"))); why != "" {
		t.Errorf("a text file: %q", why)
	}
}

// TestShortReasonKeepsForeign: a soname the loader called missing while a
// file of another processor lies on its search path is said to be that
// file, not "not on the system's search path".
func TestShortReasonKeepsForeign(t *testing.T) {
	foreign := "/d/libcublas.so.12 is built for arm64 (aarch64), and this cnngpu for x86-64: install the library for x86-64"
	a := Attempt{Candidate: Candidate{Path: "libcublas.so.12", Major: 12}, Err: errors.New("libcublas.so.12: cannot open shared object file: No such file or directory; " + foreign)}
	if got := shortReason(a); got != foreign {
		t.Errorf("shortReason = %q, want %q", got, foreign)
	}
	a.Err = errors.New("libcublas.so.12: cannot open shared object file: No such file or directory")
	if got := shortReason(a); got != "not on the system's search path" {
		t.Errorf("shortReason of a soname not found = %q", got)
	}
}
