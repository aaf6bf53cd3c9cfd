//go:build unix

// links_unix.go: the rule of Linux's fs.protected_symlinks, which a write
// that follows links itself (writeTarget) must keep too.

package fileutil

import (
	"os"
	"path/filepath"
	"syscall"
)

// refusesLink reports whether the link at path (st its Lstat) is one the
// system refuses to follow: in a sticky, world-writable folder, a link
// owned by neither the one following it nor the folder's owner.
func refusesLink(path string, st os.FileInfo) bool {
	ls, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	dst, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return false
	}
	ds, ok := dst.Sys().(*syscall.Stat_t)
	if !ok || dst.Mode()&os.ModeSticky == 0 || dst.Mode().Perm()&0o002 == 0 {
		return false
	}
	return int(ls.Uid) != os.Geteuid() && ls.Uid != ds.Uid
}

// OthersInSticky reports whether the file at path (st its Stat) is
// another user's in a folder with the sticky bit that is not this user's
// either (/tmp), where only its owner or root may replace or remove it:
// a rename over it fails with "operation not permitted".
func OthersInSticky(path string, st os.FileInfo) bool {
	uid := os.Geteuid()
	dir, err := os.Stat(filepath.Dir(path))
	if uid == 0 || err != nil || dir.Mode()&os.ModeSticky == 0 {
		return false
	}
	owner := func(fi os.FileInfo) int {
		if s, ok := fi.Sys().(*syscall.Stat_t); ok {
			return int(s.Uid)
		}
		return uid
	}
	return owner(st) != uid && owner(dir) != uid
}
