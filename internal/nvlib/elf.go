// elf.go: saying why a library file that is there could not be loaded
// when it was built for another processor (an arm64 library on x86-64, a
// 32-bit one): the dynamic loader says "cannot open shared object file: No
// such file or directory" of a file on its search path that it passes
// over for that, and "wrong ELF class" without the file's name.

package nvlib

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// hostMachine is this process's ELF machine and class.
func hostMachine() (elf.Machine, elf.Class, bool) {
	switch runtime.GOARCH {
	case "amd64":
		return elf.EM_X86_64, elf.ELFCLASS64, true
	case "arm64":
		return elf.EM_AARCH64, elf.ELFCLASS64, true
	}
	return 0, 0, false
}

// processor names an ELF machine and class as a user knows it.
func processor(m elf.Machine, c elf.Class) string {
	switch {
	case m == elf.EM_X86_64 && c == elf.ELFCLASS64:
		return "x86-64"
	case m == elf.EM_AARCH64 && c == elf.ELFCLASS64:
		return "arm64 (aarch64)"
	case m == elf.EM_386:
		return "32-bit x86"
	case m == elf.EM_ARM:
		return "32-bit ARM"
	}
	bits := map[elf.Class]string{elf.ELFCLASS32: "32-bit", elf.ELFCLASS64: "64-bit"}[c]
	return strings.TrimSpace(bits + " " + strings.TrimPrefix(m.String(), "EM_"))
}

// ForeignELF says, of the file at path, that it was built for another
// processor than this process's ("" where it was not, is no ELF file, or
// cannot be read).
func ForeignELF(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	m, c, ok := hostMachine()
	if !ok || f.Machine == m && f.Class == c {
		return ""
	}
	host := processor(m, c)
	return fmt.Sprintf("%s is built for %s, and this cnngpu for %s: install the library for %s", path, processor(f.Machine, f.Class), host, host)
}

// ForeignOnSearchPath is ForeignELF of name where it is a path, else of
// the first file named name in a folder of LD_LIBRARY_PATH (a bare soname
// the loader did not open); "" where there is none, or it was built for
// this processor.
func ForeignOnSearchPath(name string) string {
	if strings.Contains(name, "/") {
		return ForeignELF(name)
	}
	for _, d := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if d == "" {
			d = "." // as the loader takes it
		}
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return ForeignELF(p)
		}
	}
	return ""
}
