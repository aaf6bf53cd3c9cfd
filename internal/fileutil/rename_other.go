//go:build !windows

// rename_other.go: the rename that puts a written file in place
// (rename_windows.go says why Windows needs more), and no other words for
// a full disk than ENOSPC's.

package fileutil

import "os"

func rename(from, to string) error { return os.Rename(from, to) }

func diskFull(error) bool { return false }
