//go:build cgo && !windows

// preload.go: cuBLAS and cuDNN opened on another goroutine while the
// caller makes the CUDA context and loads our kernels. Opening them (dlopen
// of several hundred megabytes of libraries, their relocations, the
// version checks, the lookups of the functions we call) needs the
// driver's version and nothing of the context, so it need not wait for
// the context; the calls that do need it (the cuBLAS and cuDNN handles)
// wait for the opening, which is the same sync.Once as without a preload:
// the same files, the same errors, at the same call.
//
// glibc's dlopen holds the dynamic loader's lock, and a dlsym on another
// thread waits for it: so every function the context's side looks up is
// looked up before the preload starts (contextSyms), and the libraries'
// own functions inside their opening. Whether the context's making (calls
// into libcuda) still meets the lock is what CNNGPU_PRELOAD=0 against the
// default measures on a GPU (scripts/device-check.sh).

package cuda

import (
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/cnngpu/cnngpu/internal/trace"
)

var (
	preloadOnce sync.Once
	preloading  atomic.Bool
	abandoned   atomic.Bool
	preloaded   = make(chan struct{}) // closed when the preload's goroutine ends
	// blasBegun is set by the preload's goroutine as it starts opening
	// cuBLAS (WaitPreloaded).
	blasBegun atomic.Bool
)

// Preload looks up the driver functions a context needs, then starts, once
// a process, opening cuBLAS and then running each of more (cudnn.Preload)
// on another goroutine; later calls do nothing. Call it after Load
// succeeded: before, the driver's version is unknown and the opening
// would wait for Load's cuInit anyway.
func Preload(more ...func()) {
	preloadOnce.Do(func() {
		contextSyms()
		preloading.Store(true)
		go func() {
			defer close(preloaded)
			defer trace.Aside()()
			blasBegun.Store(true)
			blasLibrary()
			for _, f := range more {
				if abandoned.Load() {
					return
				}
				f()
			}
		}()
	})
}

// Preloading reports whether a preload was started in this process.
func Preloading() bool { return preloading.Load() }

// AbandonPreload tells a preload in flight to open nothing more (the GPU
// engine failed: a command falling back to the CPU needs no cuDNN).
func AbandonPreload() { abandoned.Store(true) }

// Abandoned reports whether AbandonPreload was called.
func Abandoned() bool { return abandoned.Load() }

// PreloadDone waits for a started preload to end; without one it returns
// at once.
func PreloadDone() {
	if preloading.Load() {
		<-preloaded
	}
}

// WaitPreloaded runs open (which returns once what it needs is opened),
// timing the wait as its own phase when the preload's goroutine has begun
// that opening (begun): the time the context's side did not cover.
func WaitPreloaded(begun *atomic.Bool, open func()) {
	if !preloading.Load() || !begun.Load() {
		open()
		return
	}
	defer trace.Begin(trace.LibWait).End()
	open()
}

// OpenBeside opens, binding every symbol now and for the rest of the
// process, each of names that lies in the library's Folder (nothing when
// the system did not say which file it loaded). A library that later
// loads one of them by soname (cuDNN 9 its sub-libraries) then gets that
// copy: the dynamic loader matches a loaded object by its soname. One
// that does not open is skipped: the library's own loading reports it.
func (l *Library) OpenBeside(names ...string) {
	dir := l.Folder()
	if dir == "" {
		return
	}
	for _, n := range names {
		dlopenOne(filepath.Join(dir, n), false)
	}
}

// Folder is the folder of the library's file, or "" when the system did
// not say which file it loaded.
func (l *Library) Folder() string {
	if !filepath.IsAbs(l.Found.Info.File) {
		return ""
	}
	return filepath.Dir(l.Found.Info.File)
}
