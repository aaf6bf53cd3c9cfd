//go:build !cgo

// nocgo.go: without cgo, cuDNN cannot be loaded.

package cudnn

import (
	"errors"

	"github.com/cnngpu/cnngpu/internal/nvlib"
)

// Library reports that GPU support is not built in.
func Library() (*nvlib.Found, error) {
	return nil, errors.New("built without cgo: cuDNN cannot be loaded")
}

// Usable reports that GPU support is not built in.
func Usable() error { return errors.New("built without cgo: cuDNN cannot be loaded") }
