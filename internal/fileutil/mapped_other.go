//go:build !unix

// mapped_other.go: where files are not mapped, UseFile reads them.

package fileutil

// UseFile calls use with the bytes of path as ReadFile returns them.
func UseFile(path string, max int64, use func([]byte) error) error {
	b, err := ReadFile(path, max)
	if err != nil {
		return err
	}
	return use(b)
}
