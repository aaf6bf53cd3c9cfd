//go:build unix

// unix_test.go: the Unix calls atomic_test.go makes (windows_test.go
// skips the tests that need them).

package fileutil

import (
	"syscall"
	"testing"
)

func mkfifo(t *testing.T, path string) {
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

func setUmask(t *testing.T, m int) int { return syscall.Umask(m) }
