//go:build !cgo || windows

// nocgo.go: without cgo (or on Windows), cuDNN cannot be loaded.

package cudnn

import (
	"errors"

	"github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/internal/nvlib"
)

// errNoCgo is what Library and Usable report.
var errNoCgo = errors.New("cuDNN cannot be loaded: " + cuda.NoBindingsWhy())

// Library reports that GPU support is not built in.
func Library() (*nvlib.Found, error) { return nil, errNoCgo }

// Usable reports that GPU support is not built in.
func Usable() error { return errNoCgo }
