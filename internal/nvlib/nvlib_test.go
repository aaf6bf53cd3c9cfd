// nvlib_test.go: the search in fake library folders: the order candidates
// are tried in, the wheel layouts, a library that is not there, a major
// version the driver cannot run, and the messages.

package nvlib

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// machine is a fake machine: a root folder with a home, a system Python,
// a CUDA toolkit, and the sonames the system's search path "has".
type machine struct {
	t      *testing.T
	root   string
	env    map[string]string
	system map[string]Info // bare soname → what dlopen would load
	opened []string        // candidates opened, in order
	closed []string
}

func newMachine(t *testing.T) *machine {
	return &machine{t: t, root: t.TempDir(), env: map[string]string{}, system: map[string]Info{}}
}

func (m *machine) Env() Env {
	return Env{
		Getenv:           func(k string) string { return m.env[k] },
		Home:             filepath.Join(m.root, "home"),
		SystemPythonDirs: []string{filepath.Join(m.root, "usr/lib")},
		CUDADirs:         []string{filepath.Join(m.root, "usr/local/cuda/lib64")},
	}
}

// lib places a fake library at rel (under the root): its content is its
// version and the CUDA major it was built for.
func (m *machine) lib(rel, version string, cuda int) string {
	p := filepath.Join(m.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		m.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(version+" "+strconv.Itoa(cuda)), 0o644); err != nil {
		m.t.Fatal(err)
	}
	return p
}

// open is the fake dlopen: a file's content, or the system's table.
func (m *machine) open(c Candidate) (string, Info, error) {
	m.opened = append(m.opened, c.Path)
	if !c.InFolder() {
		if info, ok := m.system[c.Path]; ok {
			return c.Path, info, nil
		}
		return "", Info{}, errors.New(c.Path + ": cannot open shared object file: No such file or directory")
	}
	b, err := os.ReadFile(c.Path)
	if err != nil {
		return "", Info{}, err
	}
	f := strings.Fields(string(b))
	cuda, _ := strconv.Atoi(f[1])
	return c.Path, Info{Version: f[0], CUDAMajor: cuda, File: c.Path}, nil
}

func (m *machine) release(h string) { m.closed = append(m.closed, h) }

func (m *machine) find(l Lib, driver int) (string, *Found, error) {
	return Find(l, m.Env(), Machine{Driver: driver}, m.open, m.release)
}

func rel(m *machine, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		if r, err := filepath.Rel(m.root, p); err == nil && !strings.HasPrefix(r, "..") {
			out[i] = filepath.ToSlash(r)
		} else {
			out[i] = p
		}
	}
	return out
}

func TestCandidateOrder(t *testing.T) {
	m := newMachine(t)
	m.env[LibraryPathEnv] = filepath.Join(m.root, "mine") + ":" + filepath.Join(m.root, "missing")
	m.env["VIRTUAL_ENV"] = filepath.Join(m.root, "venv")
	m.env["CONDA_PREFIX"] = filepath.Join(m.root, "conda")
	m.lib("mine/libcublas.so.11", "11.11.3", 11)
	m.lib("venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13", "13.1.0", 13)
	m.lib("venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12", "12.8.4", 12)
	m.lib("conda/lib/libcublas.so.12", "12.6.4", 12)
	m.lib("home/.local/lib/python3.11/site-packages/nvidia/cublas/lib/libcublas.so.12", "12.4.5", 12)
	m.lib("usr/lib/python3/dist-packages/nvidia/cublas/lib/libcublas.so.11", "11.10.3", 11)
	m.lib("usr/local/cuda/lib64/libcublas.so.12", "12.9.1", 12)
	m.lib("usr/local/cuda/lib64/libcudnn.so.9", "9.14.0", 12) // another library: never a cuBLAS candidate
	var got []string
	for _, c := range CUBLAS.Candidates(m.Env()) {
		got = append(got, c.Path)
	}
	want := []string{
		"mine/libcublas.so.11", // CNNGPU_LIBRARY_PATH first, whatever its version
		"libcublas.so.13",
		"venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13",
		"libcublas.so.12",
		"venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12",
		"conda/lib/libcublas.so.12",
		"home/.local/lib/python3.11/site-packages/nvidia/cublas/lib/libcublas.so.12",
		"usr/local/cuda/lib64/libcublas.so.12",
		"libcublas.so.11",
		"usr/lib/python3/dist-packages/nvidia/cublas/lib/libcublas.so.11",
	}
	if g := rel(m, got); strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("candidates:\n  %s\nwant:\n  %s", strings.Join(g, "\n  "), strings.Join(want, "\n  "))
	}
	// The explicit folder wins even over a newer library elsewhere.
	_, f, err := m.find(CUBLAS, 13000)
	if err != nil || f.Place != LibraryPathEnv || f.Version != "11.11.3" || len(f.Skipped) != 0 {
		t.Errorf("found %v, %v; want cuBLAS 11.11.3 from %s, nothing skipped", f, err, LibraryPathEnv)
	}
}

// TestWheelLayout: with nothing on the system's search path, the NVIDIA
// wheels are found in the active virtualenv (CUDA 13's and CUDA 12's
// layouts), the user's and the system's site-packages.
func TestWheelLayout(t *testing.T) {
	for _, c := range []struct {
		name, venv, file, place string
		lib                     Lib
		cuda                    int
	}{
		{"cu13 wheel in a venv", "venv", "venv/lib/python3.13/site-packages/nvidia/cu13/lib/libcublas.so.13", "the virtual environment", CUBLAS, 13},
		{"cu12 wheel in a venv", "venv", "venv/lib/python3.10/site-packages/nvidia/cublas/lib/libcublas.so.12", "the virtual environment", CUBLAS, 12},
		{"cuDNN wheel, user", "", "home/.local/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9", "the user's site-packages", CUDNN, 12},
		{"cuDNN wheel, system", "", "usr/lib/python3.11/site-packages/nvidia/cudnn/lib/libcudnn.so.9", "the system's site-packages", CUDNN, 12},
		{"cuDNN 8 in the CUDA toolkit", "", "usr/local/cuda/lib64/libcudnn.so.8", "the CUDA toolkit", CUDNN, 11},
	} {
		m := newMachine(t)
		if c.venv != "" {
			m.env["VIRTUAL_ENV"] = filepath.Join(m.root, c.venv)
		}
		// The version its name says (libcudnn.so.9: 9.x; CheckVersion).
		path := m.lib(c.file, c.file[strings.LastIndex(c.file, ".")+1:]+".2.3", c.cuda)
		h, f, err := m.find(c.lib, 13000)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if h != path || f.File() != path || !strings.HasPrefix(f.Place, c.place) {
			t.Errorf("%s: loaded %s from %q, want %s from %q", c.name, h, f.Place, path, c.place)
		}
		if !strings.Contains(f.String(), path) || !strings.Contains(f.String(), c.place) {
			t.Errorf("%s: %q does not say which file and where", c.name, f.String())
		}
		// The sonames tried first on the system's search path are reported.
		if rep := f.Report(); len(rep) == 0 || !strings.Contains(rep[0], "not on the system's search path") {
			t.Errorf("%s: report %q", c.name, rep)
		}
	}
}

// TestWrongMajor: a library built for a newer CUDA major version than the
// driver supports is skipped (and released) and the next one is used;
// with an unknown driver version, the newest is used.
func TestWrongMajor(t *testing.T) {
	m := newMachine(t)
	m.env["VIRTUAL_ENV"] = filepath.Join(m.root, "venv")
	m.system["libcublas.so.13"] = Info{Version: "13.1.0", CUDAMajor: 13, File: "/usr/lib/x86_64-linux-gnu/libcublas.so.13"}
	p12 := m.lib("venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12", "12.8.4", 12)
	h, f, err := m.find(CUBLAS, 12040)
	if err != nil || h != p12 {
		t.Fatalf("driver 12.4: loaded %q (%v), want %s", h, err, p12)
	}
	if len(m.closed) != 1 || m.closed[0] != "libcublas.so.13" {
		t.Errorf("released %v, want the CUDA 13 library", m.closed)
	}
	if rep := strings.Join(f.Report(), "\n"); !strings.Contains(rep, "libcublas.so.13 (13.1.0)") || !strings.Contains(rep, "built for CUDA 13") ||
		!strings.Contains(rep, "supports CUDA 12.4") {
		t.Errorf("report does not say why cuBLAS 13 was not used: %q", rep)
	}
	m2 := newMachine(t)
	m2.system = m.system
	if h, _, err := m2.find(CUBLAS, 0); err != nil || h != "libcublas.so.13" {
		t.Errorf("unknown driver: loaded %q (%v), want libcublas.so.13", h, err)
	}

	// cuDNN 9 for CUDA 13 and for CUDA 12 share their soname: the file
	// tells, and the one for the driver's CUDA is chosen.
	m3 := newMachine(t)
	m3.env["VIRTUAL_ENV"] = filepath.Join(m3.root, "venv")
	m3.lib("venv/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9", "9.20.0", 13)
	p := m3.lib("home/.local/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9", "9.14.0", 12)
	if h, f, err := m3.find(CUDNN, 12080); err != nil || h != p || len(f.Skipped) != 2 {
		t.Errorf("cuDNN under a CUDA 12.8 driver: loaded %q (%v), want %s after 2 skipped (the system search, the venv's CUDA 13 build)", h, err, p)
	}
	// Only a wrong-major library: the error says so, and names the driver.
	m4 := newMachine(t)
	m4.system["libcublas.so.13"] = m.system["libcublas.so.13"]
	_, _, err = m4.find(CUBLAS, 12040)
	if err == nil || !strings.Contains(err.Error(), "libcublas.so.13 (cuBLAS 13.1.0): built for CUDA 13, but the NVIDIA driver supports CUDA 12.4") {
		t.Errorf("error %v does not say why the CUDA 13 library was not used", err)
	}
}

// TestNotThere: no library anywhere: the error lists every place searched,
// the install commands (apt and pip) and --cpu.
func TestNotThere(t *testing.T) {
	m := newMachine(t)
	m.env["LD_LIBRARY_PATH"] = "/opt/x"
	m.env["VIRTUAL_ENV"] = filepath.Join(m.root, "venv")
	if err := os.MkdirAll(filepath.Join(m.root, "venv/lib/python3.12/site-packages"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lib  Lib
		want []string
	}{
		{CUBLAS, []string{"cuBLAS not found: no usable libcublas.so.13, libcublas.so.12, libcublas.so.11.",
			"CNNGPU_LIBRARY_PATH: not set", "LD_LIBRARY_PATH=/opt/x",
			"venv/lib/python3.12/site-packages (in nvidia/cublas/lib or nvidia/cu13/lib)",
			"the CUDA toolkit: " + filepath.Join(m.root, "usr/local/cuda/lib64"),
			"libcublas.so.12: not on the system's search path",
			"pip install nvidia-cublas-cu12", "pip install nvidia-cublas ", "apt install libcublas12", "non-free", "libcublas-12-8",
			"CNNGPU_LIBRARY_PATH=", "--cpu"}},
		{CUDNN, []string{"cuDNN not found: no usable libcudnn.so.9, libcudnn.so.8.", "venv/lib/python3.12/site-packages (in nvidia/cudnn/lib or nvidia/cu13/lib)",
			"pip install nvidia-cudnn-cu12", "nvidia-cudnn-cu13", "apt install libcudnn9-cuda-12", "--cpu"}},
	} {
		m.opened = nil
		_, _, err := m.find(c.lib, 12040)
		var nf *NotFoundError
		if !errors.As(err, &nf) {
			t.Fatalf("%s: error %v, want a NotFoundError", c.lib.Name, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: the error lacks %q:\n%s", c.lib.Name, w, err)
			}
		}
		if len(m.opened) != len(c.lib.Majors) {
			t.Errorf("%s: opened %v, want only the bare sonames", c.lib.Name, m.opened)
		}
	}
}

// TestOldGPU: on a machine whose GPUs predate Turing (a V100: 7.0), CUDA
// 13's libraries, which dropped those GPUs, are passed over for CUDA 12's,
// saying why; with CUDA 13's alone, the error says it; on a Turing or
// newer GPU, or with the GPUs unknown, CUDA 13's are used.
func TestOldGPU(t *testing.T) {
	m := newMachine(t)
	m.env["VIRTUAL_ENV"] = filepath.Join(m.root, "venv")
	m.system["libcublas.so.13"] = Info{Version: "13.1.0", CUDAMajor: 13, File: "/usr/lib/x86_64-linux-gnu/libcublas.so.13"}
	p12 := m.lib("venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12", "12.8.4", 12)
	h, f, err := Find(CUBLAS, m.Env(), Machine{Driver: 13000, NewestCC: 70}, m.open, m.release)
	if err != nil || h != p12 {
		t.Fatalf("a 7.0 GPU: loaded %q (%v), want %s", h, err, p12)
	}
	if rep := strings.Join(f.Report(), "\n"); !strings.Contains(rep, "libcublas.so.13 (13.1.0): built for CUDA 13, which runs on compute capability 7.5 (Turing) and newer, but this machine's GPUs are 7.0 at most") {
		t.Errorf("report does not say why cuBLAS 13 was not used: %q", rep)
	}
	for _, cc := range []int{75, 90, 0} {
		if h, _, err := Find(CUBLAS, m.Env(), Machine{Driver: 13000, NewestCC: cc}, m.open, m.release); err != nil || h != "libcublas.so.13" {
			t.Errorf("compute capability %d: loaded %q (%v), want libcublas.so.13", cc, h, err)
		}
	}
	m2 := newMachine(t)
	m2.system["libcublas.so.13"] = m.system["libcublas.so.13"]
	_, _, err = Find(CUBLAS, m2.Env(), Machine{Driver: 13000, NewestCC: 61}, m2.open, m2.release)
	if err == nil || !strings.Contains(err.Error(), "this machine's GPUs are 6.1 at most (install the library for CUDA 12)") {
		t.Errorf("CUDA 13's cuBLAS alone on a 6.1 GPU: error %v", err)
	}
}

func TestCheckDriver(t *testing.T) {
	for _, c := range []struct {
		cuda, driver int
		ok           bool
	}{{12, 12040, true}, {12, 13000, true}, {11, 12080, true}, {13, 12090, false}, {13, 13000, true}, {12, 11080, false}, {13, 0, true}, {0, 12000, true}} {
		if err := CheckDriver(c.cuda, c.driver); (err == nil) != c.ok {
			t.Errorf("CheckDriver(%d, %d) = %v, want ok %v", c.cuda, c.driver, err, c.ok)
		}
	}
}

// TestLibraryPathUnusable: CNNGPU_LIBRARY_PATH folders that cannot hold
// the library are named as such, where the library is found elsewhere
// (in the report) and where it is found nowhere (in the error).
func TestLibraryPathUnusable(t *testing.T) {
	m := newMachine(t)
	file := m.lib("opt/libcublas.so.12", "12.8.4", 12)
	empty := filepath.Join(m.root, "empty")
	os.Mkdir(empty, 0o755)
	m.env[LibraryPathEnv] = "garbage:" + file + ":" + empty
	want := "garbage (no such folder), " + file + " (a file: the variable takes folders), " + empty
	if _, _, err := m.find(CUBLAS, 0); err == nil || !strings.Contains(err.Error(), LibraryPathEnv+": "+want) {
		t.Errorf("found nowhere: %v; want the folders named with what is wrong", err)
	}
	m.system["libcublas.so.12"] = Info{Version: "12.8.4", CUDAMajor: 12}
	_, f, err := m.find(CUBLAS, 0)
	if err != nil || !strings.Contains(strings.Join(f.Report(), "\n"), LibraryPathEnv+" is set, but no usable cuBLAS is there: "+want) {
		t.Errorf("found on the system's path: %v, report %q", err, f.Report())
	}
	m.env[LibraryPathEnv] = filepath.Dir(file)
	if _, f, err := m.find(CUBLAS, 0); err != nil || f.Explicit != nil {
		t.Errorf("found in its folder: %v, explicit %+v; want nothing said", err, f.Explicit)
	}
	m.env[LibraryPathEnv] = "::"
	if ps := CUBLAS.Places(m.Env()); ps[0].Note != `"::" names no folder` {
		t.Errorf("CNNGPU_LIBRARY_PATH=:: shown as %+v", ps[0])
	}
}

// TestCheckVersion: a file whose reported version is not the one its name
// says (a libcudnn.so.9 reporting cuDNN 7.6.5, 0.0.0 or 12345.67.89, a
// libcublas.so.12 reporting -3.8.4) is not used; the name's own version,
// or an unknown one, passes.
func TestCheckVersion(t *testing.T) {
	for _, c := range []struct {
		lib     Lib
		major   int
		version string
		ok      bool
	}{
		{CUDNN, 9, "9.1.0", true}, {CUDNN, 8, "8.9.7", true}, {CUBLAS, 12, "12.8.4", true}, {CUDNN, 9, "", true},
		{CUDNN, 9, "7.6.5", false}, {CUDNN, 9, "0.0.0", false}, {CUDNN, 9, "12345.67.89", false}, {CUBLAS, 12, "-3.8.4", false}, {CUDNN, 9, "8.9.7", false},
	} {
		err := CheckVersion(c.lib, Candidate{Path: "x", Major: c.major}, Info{Version: c.version})
		if (err == nil) != c.ok || err != nil && !strings.Contains(err.Error(), fmt.Sprintf("reports %s %s under the name %s.%d", c.lib.Name, c.version, c.lib.Base, c.major)) {
			t.Errorf("%s %s as %s.%d: %v, want ok %v", c.lib.Name, c.version, c.lib.Base, c.major, err, c.ok)
		}
	}
}

// TestDriverTooOldForAny: under a driver older than any library cnngpu
// uses (CUDA 9.0), the error leads with the driver, not with the library
// (it said "install the library for CUDA 9", which cnngpu cannot use).
func TestDriverTooOldForAny(t *testing.T) {
	m := newMachine(t)
	m.system["libcublas.so.12"] = Info{Version: "12.8.4", CUDAMajor: 12}
	_, _, err := m.find(CUBLAS, 9000)
	if err == nil || !strings.HasPrefix(err.Error(), "the NVIDIA driver is too old for cnngpu: it supports CUDA 9.0 at most, and cnngpu needs CUDA 11.4 or newer (driver 470 or newer") ||
		strings.Contains(err.Error(), "for CUDA 9)") {
		t.Errorf("cuBLAS 12 under a CUDA 9.0 driver: %v", err)
	}
	if _, _, err := m.find(CUBLAS, 11080); err == nil || strings.Contains(err.Error(), "too old for cnngpu") || !strings.Contains(err.Error(), "install the library for CUDA 11") {
		t.Errorf("cuBLAS 12 under a CUDA 11.8 driver: %v; want the library for CUDA 11 asked for", err)
	}
}
