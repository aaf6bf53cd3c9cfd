//go:build !cgo

// nocgo.go: without cgo, cuDNN cannot be loaded.

package cudnn

import "errors"

// Version reports that GPU support is not built in.
func Version() (string, string, error) {
	return "", "", errors.New("built without cgo: cuDNN cannot be loaded")
}
