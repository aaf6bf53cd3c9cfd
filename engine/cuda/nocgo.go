//go:build !cgo

// nocgo.go: without cgo there is no GPU engine.

package cuda

import (
	"errors"

	"github.com/cnngpu/cnngpu/engine"
)

// New reports that this build cannot use a GPU.
func New(device int, tf32 bool) (engine.Engine, error) {
	return nil, errors.New("this cnngpu was built without cgo, so it has no GPU engine; install a C compiler (gcc or clang) and run make build again, or use --cpu")
}

// CheckEnv has nothing to check: there is no GPU engine to configure.
func CheckEnv() error { return nil }
