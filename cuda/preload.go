//go:build cgo

// preload.go: cuBLAS and cuDNN opened on another goroutine while the
// caller makes the CUDA context and loads our kernels. Opening them (dlopen
// of several hundred megabytes of libraries, their relocations, the
// version checks) needs the driver's version and nothing of the context,
// so it need not wait for the context; the calls that do need it (the
// cuBLAS and cuDNN handles) wait for the opening, which is the same
// sync.Once as without a preload: the same files, the same errors, at
// the same call.

package cuda

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/cnngpu/cnngpu/internal/trace"
)

var (
	preloadOnce sync.Once
	preloading  atomic.Bool
	preloaded   = make(chan struct{}) // closed when the preload's goroutine ends
)

// Preload starts, once a process, opening cuBLAS and then running each of
// more (cudnn.Preload) on another goroutine; later calls do nothing. Call
// it after Load succeeded: before, the driver's version is unknown and
// the opening would wait for Load's cuInit anyway.
func Preload(more ...func()) {
	preloadOnce.Do(func() {
		preloading.Store(true)
		go func() {
			defer close(preloaded)
			defer trace.Aside()()
			blasLibrary()
			for _, f := range more {
				f()
			}
		}()
	})
}

// PreloadDone waits for a started preload to end (also what the handles
// do not wait for, such as cuDNN's sub-libraries); without one it returns
// at once.
func PreloadDone() {
	if preloading.Load() {
		<-preloaded
	}
}

// WaitPreloaded runs open (which returns once what it needs is opened),
// timing the wait as its own phase when a preload was started: the time
// the context's side did not cover.
func WaitPreloaded(open func()) {
	if !preloading.Load() {
		open()
		return
	}
	defer trace.Begin(trace.LibWait).End()
	open()
}

// OpenBeside opens, lazily and for the rest of the process, each of names
// that lies in the folder of the library's file, and returns those it
// opened. A library that loads others from its own folder later (cuDNN 9
// its sub-libraries) then finds them loaded: the dynamic loader matches a
// loaded object by its soname or by its file.
func (l *Library) OpenBeside(names ...string) []string {
	dir := filepath.Dir(l.Found.File())
	var opened []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if _, err := dlopenOne(p, true); err == nil {
			opened = append(opened, n)
		}
	}
	return opened
}
