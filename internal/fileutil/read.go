// read.go: reading a whole file with a bound, so that a device (/dev/zero),
// a pipe, a folder or a file far larger than its kind can be is refused
// before anything is read, rather than read until memory runs out.

package fileutil

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// TooLargeError is a file larger than what its reader accepts.
type TooLargeError struct {
	Path      string
	Size, Max int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: %d bytes, more than the %d a file of this kind can have", e.Path, e.Size, e.Max)
}

// ReadFile returns the bytes of path, which must be a regular file of at
// most max bytes (it follows symbolic links); anything else is an error
// naming the path and what it is.
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if m := st.Mode(); !m.IsRegular() {
		what := "not a regular file"
		switch {
		case m.IsDir():
			what = "a directory, not a file"
		case m&fs.ModeDevice != 0:
			what = "a device, not a regular file"
		case m&fs.ModeNamedPipe != 0:
			what = "a named pipe, not a regular file"
		case m&fs.ModeSocket != 0:
			what = "a socket, not a regular file"
		}
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("is %s", what)}
	}
	if st.Size() > max {
		return nil, &TooLargeError{Path: path, Size: st.Size(), Max: max}
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(b)) > max { // it grew while read
		return nil, &TooLargeError{Path: path, Size: int64(len(b)), Max: max}
	}
	return b, nil
}
