// brokenlink.go: finds the symbolic link that stops a path from being
// reached or made (one to nothing, or one in a loop), for messages that
// name it rather than say the path does not exist.

package fileutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// BrokenLink finds which of path and the folders above it is a symbolic
// link that leads nowhere, or back to itself: link, and why in words with
// where it leads and what to do (both "" where none is: the path can be
// made, or is there).
func BrokenLink(path string) (link, why string) {
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		if st, err := os.Lstat(p); err == nil && st.Mode()&os.ModeSymlink != 0 {
			_, serr := os.Stat(p)
			to, _ := os.Readlink(p)
			if to != "" && !filepath.IsAbs(to) {
				to = filepath.Join(filepath.Dir(p), to) // as the system follows it
			}
			switch {
			case errors.Is(serr, syscall.ELOOP):
				return p, fmt.Sprintf("%s is a symbolic link that leads into a loop of links (or a chain of more than the system follows; to %s): remove it", p, to)
			case errors.Is(serr, fs.ErrNotExist):
				return p, fmt.Sprintf("%s is a symbolic link to %s, which does not exist: make that folder, or remove the link", p, to)
			}
		}
		if filepath.Dir(p) == p {
			return "", ""
		}
	}
}
