// kind.go: what a file is, in words, for messages that refuse one that is
// not what was expected.

package fileutil

import (
	"io/fs"
	"os"
)

// Kind names what a file of mode m is: "a file", "a folder", "a named
// pipe", and so on.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a file"
	case m.IsDir():
		return "a folder"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a plain file: " + m.String()
}

// KindAt is Kind of what is at path (through links), for a path found to
// be no folder: "a file" where it cannot be looked at.
func KindAt(path string) string {
	if st, err := os.Stat(path); err == nil {
		return Kind(st.Mode())
	}
	return "a file"
}
