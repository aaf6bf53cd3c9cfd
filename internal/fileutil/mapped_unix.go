//go:build unix

// mapped_unix.go: a regular file read through a read-only memory map, so
// that a large file (a 38 MB checkpoint) is not copied into new memory
// first: the system maps its cached pages. A file cut short by another
// process while it is mapped makes reads past its new end fault (SIGBUS);
// use runs with such faults turned into an error.

package fileutil

import (
	"errors"
	"io/fs"
	"os"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// UseFile calls use with the bytes of path, a file ReadFile would read (a
// regular file of at most max bytes, or a pipe): a regular file's through
// a memory map, valid only during the call (use must copy what it keeps),
// others' as ReadFile returns them. Where the map cannot be made, the file
// is read.
func UseFile(path string, max int64, use func([]byte) error) (err error) {
	read := func() error { return readAndUse(path, max, use) } // ReadFile's checks, waits and messages
	mappable := func(st os.FileInfo) bool {
		return st.Mode().IsRegular() && st.Size() > 0 && st.Size() <= max && int64(int(st.Size())) == st.Size()
	}
	// A named pipe is not opened here: ReadFile waits for its writer.
	if st, err := os.Stat(path); err != nil || !mappable(st) {
		return read()
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	st, serr := f.Stat()
	if serr != nil || !mappable(st) { // replaced since
		f.Close()
		return read()
	}
	data, merr := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	f.Close() // the map holds the file
	if merr != nil {
		return read()
	}
	defer unix.Munmap(data)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if re, ok := r.(interface{ Addr() uintptr }); ok && re != nil {
				err = &fs.PathError{Op: "read", Path: path, Err: errors.New("the file was cut short while it was read (another program is writing it?)")}
				return
			}
			panic(r)
		}
	}()
	return use(data)
}
