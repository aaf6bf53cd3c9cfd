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
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"
)

// beforeRename, when set (by tests), is called with the temporary file's
// name once it is written, synced and closed, just before the rename.
var beforeRename func(tmp string)

// tempPrefix is the start of every temporary file name for target base.
func tempPrefix(base string) string { return "." + ShortName(base) + ".tmp-" }

// ShortName is base for the names of files kept beside it (a temporary
// file, a lock): a long base (over 120 bytes) is cut and given a hash of
// its whole, so that a side file's name (base and up to some 130 bytes:
// a writer's tag, a random part) stays within the 255 bytes a file name
// may have where the target's own name does.
func ShortName(base string) string {
	const keep = 80
	if len(base) <= 120 {
		return base
	}
	cut := keep
	for cut > 0 && !utf8.RuneStart(base[cut]) {
		cut--
	}
	sum := sha256.Sum256([]byte(base))
	return base[:cut] + "~" + hex.EncodeToString(sum[:6])
}

// umask is the process's file-creation mask (Linux: from /proc, which
// reads it without changing it; elsewhere the usual 022).
var umask = sync.OnceValue(func() os.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return os.FileMode(m) & os.ModePerm
				}
			}
		}
	}
	return 0o022
})

// fileMode is the mode a write of path gives the file: that of the file it
// replaces, so a checkpoint made private stays so when the next epoch
// rewrites it, or perm less the umask for a new file, as os.WriteFile
// would give it.
func fileMode(path string, perm os.FileMode) os.FileMode {
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		return st.Mode().Perm()
	}
	return perm &^ umask()
}

// WriteAtomic writes data to path through a temporary file and a rename,
// then syncs the folder so the rename itself survives a crash. It first
// removes the temporary files that killed writers of path left behind.
//
// A symbolic link at path is followed: the file it leads to is replaced,
// and the link stays. Anything at path but a regular file (a device, a
// named pipe, a socket, a folder) is refused, as a rename would replace
// it.
func WriteAtomic(path string, data []byte, perm os.FileMode) error {
	return WriteAtomicSet([]File{{Path: path, Data: data, Perm: perm}})
}

// File is one file of WriteAtomicSet.
type File struct {
	Path string
	Data []byte
	Perm os.FileMode
	// Parts are written after Data, in order: a large file's pieces
	// need not be joined into one buffer first.
	Parts [][]byte
	// Final, where set, is called once Data and Parts are written, before
	// the file is synced; what it returns, as long as Data, takes Data's
	// place at the file's start: a header that depends on what follows it
	// (checksums worked out while the rest is written). Its error fails
	// the write as a failed write would.
	Final func() ([]byte, error)
	// ReplaceLink: a symbolic link at Path is replaced by the file, and
	// what it leads to is left as it is (a cache's own file, which a
	// link put there must not turn into a write elsewhere).
	ReplaceLink bool
}

// WriteAtomicSet writes files as WriteAtomic does, all or none as far
// as a failure to write goes: each is written to its temporary file
// first, and only when all are written are they renamed into place (a
// failed rename, rare on one file system, leaves those before it
// replaced). Whatever a failed write was to replace is as it was.
func WriteAtomicSet(files []File) error {
	type staged struct{ path, tmp, dir string }
	var done []staged
	abort := func() {
		for _, s := range done {
			os.Remove(s.tmp)
		}
	}
	for _, f := range files {
		// A link replaced (ReplaceLink) is the path itself, and its new
		// file takes no mode from what the link led to (a private
		// file's 0600 in a shared cache); else writeTarget says what is
		// written, and refuses a folder or a device.
		link := false
		if f.ReplaceLink {
			st, lerr := os.Lstat(f.Path)
			link = lerr == nil && st.Mode()&os.ModeSymlink != 0
		}
		path, err := f.Path, error(nil)
		if !link {
			path, err = writeTarget(f.Path)
		}
		if err != nil {
			abort()
			return err
		}
		dir, base := filepath.Split(path)
		if dir == "" {
			dir = "."
		}
		removeStale(dir, base)
		tmp, err := os.CreateTemp(dir, tempPrefix(base)+writerTag()+"-*")
		if err != nil {
			abort()
			return writeError(path, err)
		}
		name := tmp.Name()
		_, werr := tmp.Write(f.Data)
		for _, p := range f.Parts {
			if werr == nil {
				_, werr = tmp.Write(p)
			}
		}
		if werr == nil && f.Final != nil {
			var head []byte
			if head, werr = f.Final(); werr == nil {
				if len(head) != len(f.Data) {
					werr = fmt.Errorf("the final header is %d bytes where %d were written", len(head), len(f.Data))
				} else {
					_, werr = tmp.WriteAt(head, 0)
				}
			}
		}
		if werr == nil {
			werr = tmp.Sync()
		}
		if cerr := tmp.Close(); werr == nil {
			werr = cerr
		}
		if werr == nil {
			mode := fileMode(path, f.Perm)
			if link {
				mode = f.Perm &^ umask()
			}
			werr = os.Chmod(name, mode)
		}
		if werr != nil {
			os.Remove(name)
			abort()
			return writeError(path, werr)
		}
		done = append(done, staged{path, name, dir})
	}
	for i, s := range done {
		if beforeRename != nil {
			beforeRename(s.tmp)
		}
		if err := rename(s.tmp, s.path); err != nil {
			abort()
			return writeError(s.path, err)
		}
		done[i].tmp = "" // in place: nothing to remove
	}
	synced := map[string]bool{}
	for _, s := range done {
		if synced[s.dir] {
			continue
		}
		synced[s.dir] = true
		if err := syncDir(s.dir); err != nil {
			return fmt.Errorf("writing %s: the file is in place, but syncing its folder failed: %w", s.path, err)
		}
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
	case NoSpace(cause):
		hint = "; free some space there and run again"
	case errors.Is(cause, syscall.EFBIG):
		hint = " (larger than this process may write a file: ulimit -f says how large; raise it, e.g. ulimit -f unlimited, and run again)"
	case errors.Is(cause, syscall.EMFILE):
		hint = " (more files open than this process may hold: ulimit -n says how many; raise it, e.g. ulimit -n 4096, and run again)"
	case errors.Is(cause, syscall.ENFILE):
		hint = " (the system's table of open files is full: close some programs and run again)"
	case errors.Is(cause, fs.ErrNotExist):
		hint = fmt.Sprintf(" (the folder %s does not exist)", filepath.Dir(path))
	case errors.Is(cause, fs.ErrPermission):
		hint = fmt.Sprintf(" (the folder %s is not writable)", filepath.Dir(path))
	}
	return &WriteError{Path: path, Err: fmt.Errorf("%w%s", cause, hint)}
}

// NoSpace tells whether err is a full disk or a quota reached (ENOSPC,
// EDQUOT, and Windows' own numbers for them).
func NoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || diskFull(err)
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
	if errors.Is(err, fs.ErrPermission) {
		// A folder one may write in but not read (mode 0300): the file
		// is in place; its rename is as durable as the system makes it
		// without a sync.
		return nil
	}
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

// writerTag names this process in its temporary files (worked out once): its PID, its
// machine's name and, where the system has them, its PID namespace
// ("1234@node7~4026531836"), so that a folder shared between machines
// (NFS) or containers (each its own PIDs, often its own host name) is
// cleaned only of the files of dead writers whose PIDs are this
// process's to judge.
var writerTag = sync.OnceValue(func() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		// "pid:[4026531836]"
		host += "~" + strings.TrimSuffix(strings.TrimPrefix(ns, "pid:["), "]")
	}
	return strconv.Itoa(os.Getpid()) + "@" + strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator || r < ' ' || r == '*' {
			return '_'
		}
		return r
	}, host)
})

// RemoveStale removes the temporary files of path left by writers that
// are gone (as every write of path does first): for a check of the free
// space before a long run, which would otherwise count them as used.
func RemoveStale(path string) { removeStale(filepath.Dir(path), filepath.Base(path)) }

// removeStale removes dir's temporary files of target base whose writing
// process, on this machine, no longer runs. Failures are ignored: the
// file is then removed by a later write.
func removeStale(dir, base string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tempPrefix(base)
	_, myHost, _ := strings.Cut(writerTag(), "@")
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || e.IsDir() {
			continue
		}
		var pidText string
		if p, tagged, found := strings.Cut(rest, "@"); found {
			// pid@host-random: another machine's writer is not ours
			// to judge.
			i := strings.LastIndex(tagged, "-")
			if i < 0 || tagged[:i] != myHost {
				continue
			}
			pidText = p
		} else if pidText, _, ok = strings.Cut(rest, "-"); !ok {
			continue // pid-random: an earlier build's, taken as this machine's
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() || processRuns(pid) {
			continue
		}
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

// LeftTemp returns a temporary file of path that a writer left beside it
// (stopped before its rename), or "" where there is none: for the message
// about a missing path whose write was cut short.
func LeftTemp(path string) string {
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return ""
	}
	prefix := tempPrefix(filepath.Base(path))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) && !e.IsDir() {
			return filepath.Join(filepath.Dir(path), e.Name())
		}
	}
	return ""
}

// KeepMode returns the permission bits of the file at path when it
// exists, else def: a file replaced with WriteAtomic keeps its mode.
func KeepMode(path string, def os.FileMode) os.FileMode {
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		return st.Mode().Perm()
	}
	return def
}

// WriteTarget is the file a write of path replaces: path, or where its
// symbolic links lead (a link to a missing file: that file, made). It
// refuses anything there but a regular file, and a link the system would
// not follow either (another user's in a sticky, world-writable folder:
// fs.protected_symlinks).
func WriteTarget(path string) (string, error) { return writeTarget(path) }

func writeTarget(path string) (string, error) {
	linked := false // the chain of links checked (ThroughDescriptor follows it all)
	for range 40 {
		st, err := os.Lstat(path)
		if err != nil {
			return path, nil // missing: made; other errors show on writing
		}
		m := st.Mode()
		switch {
		case m&os.ModeSymlink != 0:
			if !linked && ThroughDescriptor(path) {
				return "", &WriteError{Path: path, Err: errDescriptor}
			}
			linked = true
			if refusesLink(path, st) {
				return "", &WriteError{Path: path, Err: errors.New("is a symbolic link of another user's in a shared folder (such as /tmp), which the system does not follow either; give another name")}
			}
			link, err := os.Readlink(path)
			if err != nil {
				return "", writeError(path, err)
			}
			if !filepath.IsAbs(link) {
				// ".." in the link is taken from the folder the link
				// really is in, as the system does: its own links
				// resolved first.
				dir := filepath.Dir(path)
				if real, err := filepath.EvalSymlinks(dir); err == nil {
					dir = real
				}
				link = filepath.Join(dir, link)
			}
			path = link
			continue
		case m.IsDir():
			return "", &WriteError{Path: path, Err: errors.New("is a folder; give the name of a file")}
		case !m.IsRegular():
			return "", &WriteError{Path: path, Err: fmt.Errorf("exists and is not a regular file (%v); writing replaces the file whole, which would replace it: give the name of a file", m.Type())}
		}
		return path, nil
	}
	return "", &WriteError{Path: path, Err: errors.New("too many levels of symbolic links")}
}

// errDescriptor: a path that names an open descriptor of a process
// (/dev/stdout, /dev/fd/1, /proc/self/fd/1).
var errDescriptor = errors.New("names an open descriptor of this process (standard output or another), not a file: the file is written whole and renamed into place, which would replace what the descriptor was opened on and leave the descriptor writing nowhere; give the name of a file")

// ThroughDescriptor reports whether path, or a link on the way to what it
// names, is one of /proc's links to a process's open descriptors
// (/dev/stdout and /dev/fd/N lead there). Such a link is followed by its
// text, which names the file the descriptor was opened on (with
// " (deleted)" once that name is gone), not the descriptor itself.
func ThroughDescriptor(path string) bool {
	// Absolute ("1" in /dev/fd names a descriptor as /dev/fd/1 does), not
	// cleaned (below).
	if wd, err := os.Getwd(); err == nil && !filepath.IsAbs(path) {
		path = wd + string(filepath.Separator) + path
	}
	for range 40 {
		// The folder as written, not cleaned: ".." after a link is
		// taken from where the link leads, as the system takes it.
		dir := path[:strings.LastIndex(path, string(filepath.Separator))+1]
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			dir = real
		} else {
			dir = filepath.Dir(path)
		}
		if procFD(dir) {
			return true
		}
		st, err := os.Lstat(path)
		if err != nil || st.Mode()&os.ModeSymlink == 0 {
			return false
		}
		link, err := os.Readlink(path)
		if err != nil {
			return false
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(dir, link)
		}
		path = link
	}
	return false
}

// procFD reports whether dir is a process's (or a thread's) folder of
// descriptors in /proc: /proc/PID/fd, /proc/PID/task/TID/fd.
func procFD(dir string) bool {
	parts := strings.Split(filepath.Clean(dir), string(filepath.Separator))
	n := len(parts)
	return n >= 4 && parts[0] == "" && parts[1] == "proc" && parts[n-1] == "fd" && (n == 4 || (n == 6 && parts[3] == "task"))
}

// CanWrite reports whether a file can be made in dir, by making and
// removing one; the error is the cause alone (the caller names dir).
func CanWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".cnngpu-check-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return err
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}
