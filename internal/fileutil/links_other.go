//go:build !unix

// links_other.go: no protected-links rule here (links_unix.go).

package fileutil

import "os"

func refusesLink(path string, st os.FileInfo) bool { return false }

// OthersInSticky: no such rule here.
func OthersInSticky(path string, st os.FileInfo) bool { return false }
