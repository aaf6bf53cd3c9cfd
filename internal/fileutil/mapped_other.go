//go:build !unix

// mapped_other.go: where files are not mapped, UseFile reads them.

package fileutil

// UseFile calls use with the bytes of path as ReadFile returns them.
func UseFile(path string, max int64, use func([]byte) error) error {
	return readAndUse(path, max, use)
}
