// space_linux.go: the free space of a file system, for checkSpace.

package main

import (
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// freeSpace returns the bytes this process may still write on the file
// system of dir (root may use the blocks kept for it), and the file
// system's device; ok is false where they cannot be read.
func freeSpace(dir string) (free, dev uint64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	var fi unix.Stat_t
	if err := unix.Stat(dir, &fi); err != nil {
		return 0, 0, false
	}
	blocks := st.Bavail
	if os.Geteuid() == 0 {
		blocks = st.Bfree
	}
	unit := uint64(st.Frsize)
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	if unit != 0 && blocks > math.MaxUint64/unit {
		return math.MaxUint64, uint64(fi.Dev), true
	}
	return blocks * unit, uint64(fi.Dev), true
}

// fileLimit returns the largest file this process may write (the soft
// limit of ulimit -f, in bytes) and the most it may raise that to (the
// hard limit; math.MaxUint64 for none); ok is false where there is no
// limit or it cannot be read.
func fileLimit() (limit, hard uint64, ok bool) {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &l); err != nil || l.Cur == unix.RLIM_INFINITY {
		return 0, 0, false
	}
	hard = l.Max
	if hard == unix.RLIM_INFINITY {
		hard = math.MaxUint64
	}
	return l.Cur, hard, true
}
