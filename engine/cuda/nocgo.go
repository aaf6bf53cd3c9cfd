//go:build !cgo || windows

// nocgo.go: without cgo (or on Windows) there is no GPU engine.

package cuda

import (
	"errors"

	"github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
)

// New reports that this build cannot use a GPU.
func New(device int, tf32 bool) (engine.Engine, error) {
	return nil, errors.New("this cnngpu has no GPU engine: " + cuda.NoBindingsWhy() + "; or use --cpu")
}

// CheckEnv has nothing to check: there is no GPU engine to configure.
func CheckEnv() error { return nil }
