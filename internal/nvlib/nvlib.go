// Package nvlib finds the NVIDIA libraries cnngpu loads at run time
// (cuBLAS, cuDNN) where users have them, and explains where it looked when
// it finds none. It is pure Go: the cgo packages (cuda, cudnn) open what it
// lists and report back what each file is, so the search order, the choice
// and the messages are tested here without a GPU or a C compiler.
//
// nvlib.go: the libraries, the places searched and the candidate files in
// the order they are tried.
//
// The order: every folder of CNNGPU_LIBRARY_PATH first (the user's explicit
// choice, newest major version first); then, for each major version,
// newest first, the system's library search (a bare soname: LD_LIBRARY_PATH,
// /etc/ld.so.cache, /lib, /usr/lib), the NVIDIA wheels' folders in the
// active virtual environment, the active conda environment, the user's
// site-packages and the system's site-packages, and /usr/local/cuda/lib64.
// A folder candidate is listed only where its file exists; a bare soname
// is always listed (only dlopen knows whether the system has it).
package nvlib

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Lib describes one library and where NVIDIA ships it.
type Lib struct {
	Name   string // "cuBLAS"
	Base   string // "libcublas.so": the soname is Base + "." + major
	Majors []int  // the major versions we can use, newest first
	// Probe is a function every version exports: its address tells which
	// file the system loaded.
	Probe string
	// WheelDirs are the folders, relative to a site-packages folder, where
	// NVIDIA's Python wheels unpack the library.
	WheelDirs []string
	// Companions returns, for a major version, the libraries of the same
	// folder to open first (dependencies before dependents), so that a
	// folder that is not on the system's search path still works.
	Companions func(major int) []string
	// Install is what to run to get the library.
	Install []string
}

// Soname is the library's file name for major version m.
func (l Lib) Soname(m int) string { return fmt.Sprintf("%s.%d", l.Base, m) }

// CUBLAS is cuBLAS: libcublas.so.13 (CUDA 13), .12, .11. CUDA 12's wheel
// (nvidia-cublas-cu12) unpacks into nvidia/cublas/lib, CUDA 13's
// (nvidia-cublas) into nvidia/cu13/lib. libcublas needs libcublasLt of the
// same version, beside it.
var CUBLAS = Lib{
	Name:       "cuBLAS",
	Base:       "libcublas.so",
	Majors:     []int{13, 12, 11},
	Probe:      "cublasGetProperty",
	WheelDirs:  []string{"nvidia/cublas/lib", "nvidia/cu13/lib"},
	Companions: func(m int) []string { return []string{fmt.Sprintf("libcublasLt.so.%d", m)} },
	Install: []string{
		"pip install nvidia-cublas-cu12    (CUDA 12 drivers, 525 or newer; in the active virtualenv, or with --user)",
		"pip install nvidia-cublas         (CUDA 13 drivers, 580 or newer)",
		"apt install libcublas12           (Debian 13 with non-free enabled, Ubuntu 24.04 with multiverse)",
		"apt install libcublas-12-8        (NVIDIA's CUDA apt repository, after installing cuda-keyring; libcublas-13-0 for CUDA 13)",
	},
}

// CUDNN is cuDNN: libcudnn.so.9, then .8. Both of cuDNN 9's wheels
// (nvidia-cudnn-cu12, nvidia-cudnn-cu13) unpack into nvidia/cudnn/lib;
// which CUDA a file was built for only the file itself tells
// (cudnnGetCudartVersion). cuDNN 9's sub-libraries find each other
// ($ORIGIN); cuDNN 8's do not, so they are opened first, in dependency
// order.
var CUDNN = Lib{
	Name:      "cuDNN",
	Base:      "libcudnn.so",
	Majors:    []int{9, 8},
	Probe:     "cudnnGetVersion",
	WheelDirs: []string{"nvidia/cudnn/lib", "nvidia/cu13/lib"},
	Companions: func(m int) []string {
		if m != 8 {
			return nil
		}
		return []string{"libcudnn_ops_infer.so.8", "libcudnn_ops_train.so.8", "libcudnn_cnn_infer.so.8",
			"libcudnn_cnn_train.so.8", "libcudnn_adv_infer.so.8", "libcudnn_adv_train.so.8"}
	},
	Install: []string{
		"pip install nvidia-cudnn-cu12     (CUDA 12 drivers; nvidia-cudnn-cu13 for CUDA 13)",
		"apt install libcudnn9-cuda-12     (NVIDIA's CUDA apt repository, after installing cuda-keyring; libcudnn9-cuda-13 for CUDA 13)",
	},
}

// Env is what the search reads from the machine: the environment, the home
// folder and the system folders. OSEnv is the real one; tests point the
// folders into temporary ones.
type Env struct {
	Getenv func(string) string
	Home   string // "" when unknown
	// SystemPythonDirs are the folders whose python3* folders hold the
	// system's site-packages or dist-packages.
	SystemPythonDirs []string
	// CUDADirs are CUDA toolkit library folders.
	CUDADirs []string
	// NoSystemSearch leaves out the bare sonames (tests that must not
	// find the machine's own libraries).
	NoSystemSearch bool
}

// OSEnv is the environment of this process.
func OSEnv() Env {
	home, _ := os.UserHomeDir()
	return Env{
		Getenv:           os.Getenv,
		Home:             home,
		SystemPythonDirs: []string{"/usr/local/lib", "/usr/lib", "/usr/lib64"},
		CUDADirs:         []string{"/usr/local/cuda/lib64"},
	}
}

// Place is one place searched: what it is, and the folders it stands for
// (none for the system's search path, which dlopen searches itself).
type Place struct {
	What     string
	Folders  []string
	System   bool   // the system's search path (bare sonames)
	Note     string // why it holds no folder, e.g. "not set"
	Shown    string // the folders, shortened for messages
	Explicit bool   // CNNGPU_LIBRARY_PATH: tried before every other place
}

// Candidate is one file to try: a path, or a bare soname for the system's
// search path.
type Candidate struct {
	Path  string
	Major int
	Place string // Place.What
}

// LibraryPathEnv names the folders to search first.
const LibraryPathEnv = "CNNGPU_LIBRARY_PATH"

// sitePackages returns the site-packages (and dist-packages) folders under
// prefix/lib/python3*.
func sitePackages(prefix string) []string {
	var out []string
	for _, kind := range []string{"site-packages", "dist-packages"} {
		m, _ := filepath.Glob(filepath.Join(prefix, "python3*", kind))
		out = append(out, m...)
	}
	return out
}

// wheelFolders joins each site-packages folder with the library's wheel
// folders.
func (l Lib) wheelFolders(sites []string) []string {
	var out []string
	for _, s := range sites {
		for _, w := range l.WheelDirs {
			out = append(out, filepath.Join(s, filepath.FromSlash(w)))
		}
	}
	return out
}

// wheelPlace is a place of Python environments: its wheel folders, shown
// as the site-packages folders and the wheel folders looked at in each.
func (l Lib) wheelPlace(what string, sites []string, extra ...string) Place {
	p := Place{What: what, Folders: append(extra, l.wheelFolders(sites)...)}
	if len(sites) > 0 {
		p.Shown = strings.Join(append(extra, sites...), ", ") + " (in " + strings.Join(l.WheelDirs, " or ") + ")"
	}
	return p
}

// Places returns the places searched, in order.
func (l Lib) Places(env Env) []Place {
	var ps []Place
	if v := env.Getenv(LibraryPathEnv); v != "" {
		var dirs, shown []string
		for _, d := range filepath.SplitList(v) {
			if d == "" {
				continue
			}
			dirs = append(dirs, d)
			// A folder that cannot hold the library is named as such:
			// the variable was set for a reason.
			switch st, err := os.Stat(d); {
			case err != nil:
				shown = append(shown, d+" (no such folder)")
			case !st.IsDir():
				shown = append(shown, d+" (a file: the variable takes folders)")
			default:
				shown = append(shown, d)
			}
		}
		p := Place{What: LibraryPathEnv, Folders: dirs, Explicit: true, Shown: strings.Join(shown, ", ")}
		if len(dirs) == 0 {
			p.Note = fmt.Sprintf("%q names no folder", v)
		}
		ps = append(ps, p)
	} else {
		ps = append(ps, Place{What: LibraryPathEnv, Note: "not set", Explicit: true})
	}
	sys := "the system's library search path (LD_LIBRARY_PATH, /etc/ld.so.cache, /lib, /usr/lib)"
	if v := env.Getenv("LD_LIBRARY_PATH"); v != "" {
		sys = fmt.Sprintf("the system's library search path (LD_LIBRARY_PATH=%s, /etc/ld.so.cache, /lib, /usr/lib)", v)
	}
	ps = append(ps, Place{What: sys, System: true})
	if v := env.Getenv("VIRTUAL_ENV"); v != "" {
		ps = append(ps, l.wheelPlace("the virtual environment "+v, sitePackages(filepath.Join(v, "lib"))))
	} else {
		ps = append(ps, Place{What: "the virtual environment", Note: "none active (VIRTUAL_ENV not set)"})
	}
	if v := env.Getenv("CONDA_PREFIX"); v != "" {
		ps = append(ps, l.wheelPlace("the conda environment "+v, sitePackages(filepath.Join(v, "lib")), filepath.Join(v, "lib")))
	}
	if env.Home != "" {
		ps = append(ps, l.wheelPlace("the user's site-packages", sitePackages(filepath.Join(env.Home, ".local", "lib"))))
	}
	var sys2 []string
	for _, d := range env.SystemPythonDirs {
		sys2 = append(sys2, sitePackages(d)...)
	}
	ps = append(ps, l.wheelPlace("the system's site-packages", sys2))
	ps = append(ps, Place{What: "the CUDA toolkit", Folders: env.CUDADirs})
	for i := range ps {
		if len(ps[i].Folders) == 0 && !ps[i].System && ps[i].Note == "" {
			ps[i].Note = "no such folder"
		}
		if ps[i].Shown == "" {
			ps[i].Shown = strings.Join(ps[i].Folders, ", ")
		}
	}
	return ps
}

// Candidates returns the files to try, in order (see the package comment).
func (l Lib) Candidates(env Env) []Candidate { return l.candidates(l.Places(env), env) }

// candidates is Candidates over the places ps (l.Places(env)).
func (l Lib) candidates(ps []Place, env Env) []Candidate {
	var out []Candidate
	seen := map[string]bool{}
	add := func(p Place, m int) {
		if p.System {
			if !env.NoSystemSearch {
				out = append(out, Candidate{Path: l.Soname(m), Major: m, Place: p.What})
			}
			return
		}
		for _, d := range p.Folders {
			f := filepath.Join(d, l.Soname(m))
			if seen[f] || !isFile(f) {
				continue
			}
			seen[f] = true
			out = append(out, Candidate{Path: f, Major: m, Place: p.What})
		}
	}
	for _, p := range ps {
		if p.Explicit {
			for _, m := range l.Majors {
				add(p, m)
			}
		}
	}
	for _, m := range l.Majors {
		for _, p := range ps {
			if !p.Explicit {
				add(p, m)
			}
		}
	}
	return out
}

// isFile reports whether path is a file (or a link to one).
func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// InFolder reports whether a candidate is a file in a folder (not a bare
// soname for the system's search).
func (c Candidate) InFolder() bool { return strings.ContainsRune(c.Path, '/') }
