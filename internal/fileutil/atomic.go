// Package fileutil holds the atomic file write every writer in cnngpu uses:
// a temporary file in the same folder, synced, renamed over the target, and
// the folder synced, so a reader (or a crash) never sees a partial file and
// a crash right after a write keeps it.
//
// A writer killed between creating its temporary file and the rename
// leaves that file behind. Temporary files are named after their target
// and the writing process (.NAME.tmp-PID-RANDOM), and every write removes
// the ones of the same target whose process is gone, so none lives longer
// than the next write of that file.
package fileutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// beforeRename, when set (by tests), is called with the temporary file's
// name once it is written, synced and closed, just before the rename.
var beforeRename func(tmp string)

// tempPrefix is the start of every temporary file name for target base.
func tempPrefix(base string) string { return "." + base + ".tmp-" }

// WriteAtomic writes data to path through a temporary file and a rename,
// then syncs the folder so the rename itself survives a crash. It first
// removes the temporary files that killed writers of path left behind.
func WriteAtomic(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	removeStale(dir, base)
	tmp, err := os.CreateTemp(dir, tempPrefix(base)+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return writeError(path, err)
	}
	name := tmp.Name()
	_, werr := tmp.Write(data)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(name, perm)
	}
	if werr == nil && beforeRename != nil {
		beforeRename(name)
	}
	if werr == nil {
		werr = os.Rename(name, path)
	}
	if werr != nil {
		os.Remove(name)
		return writeError(path, werr)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("writing %s: the file is in place, but syncing its folder failed: %w", path, err)
	}
	return nil
}

// writeError is the error of a failed write of path: the cause without the
// temporary file's name (the user never named it), and what to do where
// that is plain. Whatever was at path is as it was.
func writeError(path string, err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	cause := err
	switch {
	case errors.As(err, &pe):
		cause = pe.Err
	case errors.As(err, &le):
		cause = le.Err
	}
	hint := ""
	switch {
	case errors.Is(cause, syscall.ENOSPC), errors.Is(cause, syscall.EDQUOT):
		hint = "; free some space there and run again"
	case errors.Is(cause, fs.ErrNotExist):
		hint = fmt.Sprintf(" (the folder %s does not exist)", filepath.Dir(path))
	case errors.Is(cause, fs.ErrPermission):
		hint = fmt.Sprintf(" (the folder %s is not writable)", filepath.Dir(path))
	}
	return &WriteError{Path: path, Err: fmt.Errorf("%w%s", cause, hint)}
}

// WriteError is a failed atomic write: the file at Path is as it was.
type WriteError struct {
	Path string
	Err  error
}

func (e *WriteError) Error() string { return "writing " + e.Path + ": " + e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// syncDir makes a rename in dir durable. Filesystems that cannot sync a
// folder (EINVAL, ENOTSUP), and Windows, where a folder cannot be opened
// for it, are left as they are.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	d.Close()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// removeStale removes dir's temporary files of target base whose writing
// process no longer runs. Failures are ignored: the file is then removed
// by a later write.
func removeStale(dir, base string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tempPrefix(base)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || e.IsDir() {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() || processRuns(pid) {
			continue
		}
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

// KeepMode returns the permission bits of the file at path when it
// exists, else def: a file replaced with WriteAtomic keeps its mode.
func KeepMode(path string, def os.FileMode) os.FileMode {
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		return st.Mode().Perm()
	}
	return def
}
