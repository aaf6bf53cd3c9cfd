// read.go: reading a whole file with a bound, so that a device (/dev/zero),
// a pipe, a folder or a file far larger than its kind can be is refused
// before anything is read, rather than read until memory runs out.

package fileutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// TooLargeError is a file larger than what its reader accepts.
type TooLargeError struct {
	Path      string
	Size, Max int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: %d bytes, more than the %d a file of this kind can have", e.Path, e.Size, e.Max)
}

// ReadFile returns the bytes of path, a regular file of at most max bytes
// or a pipe (a shell's `<(…)`, /dev/stdin fed by one) that ends within
// max bytes (it follows symbolic links); a folder, a device or a file
// over max is an error naming the path and what it is, and nothing past
// max is read.
func ReadFile(path string, max int64) ([]byte, error) {
	f, waited, err := OpenRead(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	m := st.Mode()
	switch {
	case m.IsRegular():
		if st.Size() > max {
			return nil, &TooLargeError{Path: path, Size: st.Size(), Max: max}
		}
		// Sized from Stat, one more byte to see the end (or growth).
		b := make([]byte, st.Size()+1)
		n, err := io.ReadFull(f, b)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
				return nil, err // the file's own error names it already
			}
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if int64(n) <= st.Size() {
			return b[:n], nil
		}
		// It grew while read: go on, bounded.
		rest, rerr := readBounded(f, max-int64(n))
		if rerr != nil {
			return nil, rerr.wrap(path, max)
		}
		return append(b[:n], rest...), nil
	case m&fs.ModeNamedPipe != 0, m&fs.ModeSocket != 0:
		b, rerr := readBounded(f, max)
		if rerr != nil {
			return nil, rerr.wrap(path, max)
		}
		if waited && len(b) == 0 {
			return nil, NoWriter(path)
		}
		return b, nil
	}
	what := "not a regular file"
	switch {
	case m.IsDir():
		what = "a directory, not a file"
	case m&fs.ModeDevice != 0:
		what = "a device, not a regular file"
	}
	return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("is %s", what)}
}

// FIFOWait is how long ReadFile waits for a writer to open a named pipe
// (a shell's `<(…)` has one already; mkfifo's may come a moment later).
var FIFOWait = 10 * time.Second

// OpenRead opens path for reading. Where path is a named pipe that no
// writer opens within FIFOWait, the open is released by a writer of its
// own that writes nothing (waited): a real writer that came at that very
// moment is still read, and an empty read then means there was none
// (NoWriter).
func OpenRead(path string) (f *os.File, waited bool, err error) {
	st, err := os.Stat(path)
	if err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
		f, err := os.Open(path) // names a missing file itself
		return f, false, err
	}
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		ch <- opened{f, err}
	}()
	select {
	case o := <-ch:
		return o.f, false, o.err
	case <-time.After(FIFOWait):
	}
	// Release the open still waiting: be the pipe's writer for a moment.
	if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		w.Close()
	}
	select {
	case o := <-ch:
		return o.f, true, o.err
	case <-time.After(time.Second):
		// Not released (the pipe cannot be opened for writing here):
		// the open stays blocked on its goroutine until a writer comes.
		return nil, true, NoWriter(path)
	}
}

// NoWriter is the error for a named pipe that no writer opened within
// FIFOWait.
func NoWriter(path string) error {
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("is a named pipe, and nothing opened it for writing within %v: give the file itself, or start the writer first", FIFOWait)}
}

// readError is readBounded's failure: an error reading, or more than its
// bound to read (over).
type readError struct {
	err  error
	over int64
}

func (e *readError) wrap(path string, max int64) error {
	if e.err != nil {
		return &fs.PathError{Op: "read", Path: path, Err: e.err}
	}
	return &TooLargeError{Path: path, Size: e.over, Max: max}
}

// readBounded reads r to its end, if that is within max bytes.
func readBounded(r io.Reader, max int64) ([]byte, *readError) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, &readError{err: err}
	}
	if int64(len(b)) > max {
		return nil, &readError{over: int64(len(b))}
	}
	return b, nil
}

// readAndUse calls use with the bytes ReadFile returns for path: UseFile
// where the file is not mapped.
func readAndUse(path string, max int64, use func([]byte) error) error {
	b, err := ReadFile(path, max)
	if err != nil {
		return err
	}
	return use(b)
}
