// find.go: trying the candidates in order, the choice by the driver's
// CUDA version, and the messages: what was chosen and from where, and,
// when nothing is usable, where we looked, what we found and could not
// use, and how to install the library.
//
// The choice is made by cuDriverGetVersion, not by trying to create a
// handle: a library built for a newer CUDA major version than the driver
// supports (cuBLAS 13 under a CUDA 12 driver, cuDNN 9 built for CUDA 13)
// fails at cublasCreate/cudnnCreate, so such a file is skipped before any
// handle is made and the next soname (or the next folder) is tried. A CUDA
// minor version newer than the driver's is accepted: CUDA's minor version
// compatibility runs such libraries on any driver of the same major.

package nvlib

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Info is what opening a file told about it.
type Info struct {
	Version   string // the library's own version, e.g. "13.1.0"
	CUDAMajor int    // the CUDA major version it was built for (0: unknown)
	File      string // the file the system loaded, as a path ("" unknown)
}

// Attempt is a candidate that was tried and not used, and why.
type Attempt struct {
	Candidate
	Info Info
	Err  error
}

// Found is the library chosen: the candidate, what it is, and the
// candidates tried before it.
type Found struct {
	Lib Lib
	Candidate
	Info
	Skipped []Attempt
	// Explicit is CNNGPU_LIBRARY_PATH's place where it was set and the
	// library was found elsewhere (nil otherwise).
	Explicit *Place
}

// File is the loaded file's path (the candidate's where the system did not
// say).
func (f *Found) File() string {
	if f.Info.File != "" {
		return f.Info.File
	}
	return f.Path
}

// String says what was loaded and from where, e.g. "cuBLAS 13.1.0
// /usr/lib/x86_64-linux-gnu/libcublas.so.13 (found through the system's
// library search path ...)".
func (f *Found) String() string {
	return fmt.Sprintf("%s %s  %s  (found in %s)", f.Lib.Name, f.Version, f.File(), f.Place)
}

// MinDriverCUDA is the oldest CUDA major version a driver must support
// for any library cnngpu uses (cuBLAS 11, cuDNN 8 for CUDA 11).
const MinDriverCUDA = 11

// MinDriver is the oldest driver cnngpu runs on, as cuDriverGetVersion
// says (11040: CUDA 11.4, driver 470): the engine's context needs its
// functions (cuGraphInstantiateWithFlags). A GPU that compiles our
// kernels' PTX (ISA 7.8: Pascal, or one newer than Hopper) needs CUDA
// 11.8, driver 520 (docs/gpu.md); the others load their SASS.
const MinDriver = 11040

// MinDriverText says MinDriver in a user's words.
const MinDriverText = "CUDA 11.4 or newer (driver 470 or newer; 520 or newer for a Pascal GPU)"

// DriverTooOld tells whether a NotFoundError is the driver's fault: it is
// older than MinDriver, so that no library would do.
func (e *NotFoundError) DriverTooOld() bool { return e.Driver > 0 && e.Driver < MinDriver }

// CheckDriver tells whether a library built for CUDA major cudaMajor runs
// under a driver whose cuDriverGetVersion is driver (e.g. 12040 for 12.4).
// Either being 0 (unknown) passes.
func CheckDriver(cudaMajor, driver int) error {
	if cudaMajor == 0 || driver == 0 || cudaMajor <= driver/1000 {
		return nil
	}
	if driver/1000 < MinDriverCUDA {
		return fmt.Errorf("built for CUDA %d, but the NVIDIA driver supports CUDA %d.%d at most (update the driver)", cudaMajor, driver/1000, driver%1000/10)
	}
	return fmt.Errorf("built for CUDA %d, but the NVIDIA driver supports CUDA %d.%d at most (update the driver, or install the library for CUDA %d)",
		cudaMajor, driver/1000, driver%1000/10, driver/1000)
}

// CheckVersion tells whether the version a file of l reports (info) is
// the one its name c says: a libcudnn.so.9 that reports cuDNN 7.6.5 (a
// link to another version, or not NVIDIA's library) is not used, since
// what it can do, and which of its companions are opened, follows the
// name. An unknown version ("") passes.
func CheckVersion(l Lib, c Candidate, info Info) error {
	if info.Version == "" || c.Major == 0 {
		return nil
	}
	first, _, _ := strings.Cut(info.Version, ".")
	if major, err := strconv.Atoi(first); err == nil && major == c.Major {
		return nil
	}
	return fmt.Errorf("reports %s %s under the name %s.%d: not the version its name says (a link to another version, or not NVIDIA's library)", l.Name, info.Version, l.Base, c.Major)
}

// MinCCForCUDA13 is the oldest compute capability (×10) CUDA 13's
// libraries run on: 13.0 removed Maxwell, Pascal and Volta (5.x–7.2).
const MinCCForCUDA13 = 75

// CheckArch tells whether a library built for CUDA major cudaMajor runs
// on any of this machine's GPUs, the newest of which has compute
// capability newestCC (×10: 70 for 7.0). Either being 0 (unknown) passes.
func CheckArch(cudaMajor, newestCC int) error {
	if cudaMajor < 13 || newestCC == 0 || newestCC >= MinCCForCUDA13 {
		return nil
	}
	return fmt.Errorf("built for CUDA %d, which runs on compute capability %d.%d (Turing) and newer, but this machine's GPUs are %d.%d at most (install the library for CUDA 12)",
		cudaMajor, MinCCForCUDA13/10, MinCCForCUDA13%10, newestCC/10, newestCC%10)
}

// Machine is what decides whether a library that opens can be used: the
// driver's cuDriverGetVersion and the newest compute capability (×10)
// among the GPUs; 0 where unknown.
type Machine struct {
	Driver, NewestCC int
}

// Find tries the library's candidates in order. open opens one and says
// what it is; the first that opens, whose CUDA major version the driver
// supports and which runs on the machine's GPUs is returned with its
// handle; every other opened handle is passed to release. When none is
// usable the error is a *NotFoundError.
func Find[H any](l Lib, env Env, m Machine, open func(Candidate) (H, Info, error), release func(H)) (H, *Found, error) {
	driver := m.Driver
	var tried []Attempt
	ps := l.Places(env) // once: it looks at the folders CNNGPU_LIBRARY_PATH names
	for _, c := range l.candidates(ps, env) {
		h, info, err := open(c)
		if err == nil {
			if err = CheckVersion(l, c, info); err == nil {
				err = CheckDriver(info.CUDAMajor, driver)
			}
			if err == nil {
				err = CheckArch(info.CUDAMajor, m.NewestCC)
			}
			if err == nil {
				f := &Found{Lib: l, Candidate: c, Info: info, Skipped: tried}
				if len(ps) > 0 && ps[0].Explicit && len(ps[0].Folders) > 0 && c.Place != ps[0].What {
					f.Explicit = &ps[0]
				}
				return h, f, nil
			}
			release(h)
		}
		tried = append(tried, Attempt{Candidate: c, Info: info, Err: err})
	}
	var zero H
	return zero, nil, &NotFoundError{Lib: l, Places: ps, Tried: tried, Driver: driver}
}

// NotFoundError says that no usable file of a library was found: where we
// looked, what was found and not used, how to install the library, and
// --cpu.
type NotFoundError struct {
	Lib    Lib
	Places []Place
	Tried  []Attempt
	Driver int
}

func (e *NotFoundError) Error() string {
	l := e.Lib
	var b strings.Builder
	names := make([]string, len(l.Majors))
	for i, m := range l.Majors {
		names[i] = l.Soname(m)
	}
	if e.DriverTooOld() {
		// No library cnngpu uses would run: the driver is the problem,
		// not the library (its files were found, and refused for it).
		fmt.Fprintf(&b, "the NVIDIA driver is too old for cnngpu: it supports CUDA %d.%d at most, and cnngpu needs %s: update the driver (nvidia-smi shows its version)\n",
			e.Driver/1000, e.Driver%1000/10, MinDriverText)
	}
	fmt.Fprintf(&b, "%s not found: no usable %s.\nSearched:\n", l.Name, strings.Join(names, ", "))
	for _, p := range e.Places {
		switch {
		case p.System:
			fmt.Fprintf(&b, "  %s\n", p.What)
		case p.Note != "":
			fmt.Fprintf(&b, "  %s: %s\n", p.What, p.Note)
		default:
			fmt.Fprintf(&b, "  %s: %s\n", p.What, p.Shown)
		}
	}
	if len(e.Tried) > 0 {
		b.WriteString("Tried:\n")
		for _, t := range e.TriedLines() {
			fmt.Fprintf(&b, "  %s\n", t)
		}
	}
	fmt.Fprintf(&b, "Install %s (one of):\n", l.Name)
	for _, s := range l.Install {
		fmt.Fprintf(&b, "  %s\n", s)
	}
	fmt.Fprintf(&b, "or name the folder that holds it in %s (e.g. %s=%s),\nor run on the CPU with --cpu (the CPU engine needs none of these libraries).",
		LibraryPathEnv, LibraryPathEnv, filepath.Join("$VIRTUAL_ENV", "lib", "python3.12", "site-packages", filepath.FromSlash(l.WheelDirs[0])))
	return b.String()
}

// TriedLines says, a line each, which files were found and opened but
// not used, and why.
func (e *NotFoundError) TriedLines() []string {
	var out []string
	for _, a := range e.Tried {
		what := a.Path
		if a.Info.Version != "" {
			what += fmt.Sprintf(" (%s %s)", e.Lib.Name, a.Info.Version)
		}
		out = append(out, fmt.Sprintf("%s: %s", what, shortReason(a)))
	}
	return out
}

// shortReason is an attempt's error, with dlopen's long "not found" for a
// bare soname shortened.
func shortReason(a Attempt) string {
	msg := a.Err.Error()
	if !a.InFolder() && strings.Contains(msg, "cannot open shared object file: No such file or directory") &&
		strings.HasPrefix(msg, a.Path+":") {
		if _, foreign, ok := strings.Cut(msg, "; "); ok {
			return foreign // there, but built for another processor (ForeignELF)
		}
		return "not on the system's search path"
	}
	// dlopen's message begins with the path, which the line names already.
	return strings.TrimPrefix(msg, a.Path+": ")
}

// Report lists, for `cnngpu devices`, the candidates tried before f and why
// they were not used, one line each (none when f was the first).
func (f *Found) Report() []string {
	var out []string
	for _, a := range f.Skipped {
		what := a.Path
		if a.Info.Version != "" {
			what += " (" + a.Info.Version + ")"
		}
		out = append(out, fmt.Sprintf("not used: %s: %s", what, shortReason(a)))
	}
	if p := f.Explicit; p != nil {
		out = append(out, fmt.Sprintf("%s is set, but no usable %s is there: %s", p.What, f.Lib.Name, p.Shown))
	}
	return out
}
