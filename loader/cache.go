// cache.go: reading MNIST from the cache folder. Beside each checked .gz
// file the cache keeps its contents uncompressed (55 MB for the four), made
// at the first read; later commands read and check those instead of
// decompressing the .gz files again, which is most of reading the data
// (docs/performance.md). An uncompressed copy is trusted only when its
// SHA-256 is that of the published file's contents (File.RawSHA256),
// checked at every read as the .gz files are; one that is missing, cut
// short or garbled is made again from its .gz file, anything else in its
// place left as it is (readCopy).

package loader

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/trace"
)

// LoadMNIST reads the training and test sets from the cache folder f.Dir,
// fetching the .gz files first where they are needed and missing or
// damaged.
func (f *Fetcher) LoadMNIST(ctx context.Context) (*MNIST, error) {
	sets, err := f.loadSets(ctx, Files)
	if err != nil {
		return nil, err
	}
	return &MNIST{Train: sets[0], Test: sets[1], Dir: f.Dir}, nil
}

// LoadTest reads the test set alone from the cache folder, as LoadMNIST
// does.
func (f *Fetcher) LoadTest(ctx context.Context) (*Set, error) {
	sets, err := f.loadSets(ctx, Files[2:])
	if err != nil {
		return nil, err
	}
	return sets[0], nil
}

// loadSets reads files (pairs of an image file and its label file, from
// Files) from the cache.
func (f *Fetcher) loadSets(ctx context.Context, files []File) ([]*Set, error) {
	defer trace.Begin(trace.ReadData).End()
	// Said at once, not as each file in it "cannot be examined".
	if st, err := os.Stat(f.Dir); err == nil && !st.IsDir() {
		return nil, CacheIsFileError(f.Dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		if errors.Is(err, fs.ErrPermission) {
			// A folder on its way closed to this user (cmd's hint for a
			// permission says whom the system refused).
			return nil, fmt.Errorf("the MNIST cache %s cannot be used (%w): set XDG_CACHE_HOME to a folder of your own, or ask for access to it", f.Dir, err)
		}
		return nil, fmt.Errorf("the MNIST cache %s cannot be used (%v): a folder above it may be a file; fix that, or set XDG_CACHE_HOME to another folder", f.Dir, err)
	}
	data, err := f.contents(ctx, files)
	if err != nil {
		return nil, err
	}
	sets := make([]*Set, len(files)/2)
	for i := range sets {
		im, lb := 2*i, 2*i+1
		sets[i], err = parseSet(f.rawPath(files[im]), data[im], f.rawPath(files[lb]), data[lb])
		if err != nil {
			return nil, err
		}
	}
	return sets, nil
}

// CacheIsFileError is the error for a cache folder dir that is a file.
func CacheIsFileError(dir string) error {
	return fmt.Errorf("the MNIST cache %s is %s, not a folder: move it away, or set XDG_CACHE_HOME to another folder", dir, fileutil.KindAt(dir))
}

func (f *Fetcher) rawPath(file File) string { return filepath.Join(f.Dir, file.RawName()) }

// contents returns the uncompressed contents of files: each one's
// uncompressed copy where its SHA-256 is right, else its .gz file
// decompressed (fetched first when missing or damaged: ensure), after
// which the copy is kept for the next command where that loses nothing.
func (f *Fetcher) contents(ctx context.Context, files []File) ([][]byte, error) {
	type read struct {
		data  []byte
		state CopyState
	}
	reads, _ := eachOf(len(files), func(i int) (read, error) {
		d, st := f.readCopy(files[i])
		return read{d, st}, nil
	})
	data := make([][]byte, len(files))
	var need []int
	var needFiles []File
	for i, r := range reads {
		data[i] = r.data
		if r.state != CopyGood {
			need = append(need, i)
			needFiles = append(needFiles, files[i])
		}
	}
	if len(need) == 0 {
		return data, nil
	}
	if err := f.ensure(ctx, needFiles); err != nil {
		return nil, err
	}
	made, err := eachOf(len(need), func(k int) ([]byte, error) {
		i := need[k]
		return f.makeCopy(files[i], reads[i].state)
	})
	if err != nil {
		return nil, err
	}
	for k, i := range need {
		data[i] = made[k]
	}
	return data, nil
}

// CopyState is what a file's uncompressed copy's place in the cache holds,
// as the cache treats it (readCopy; data verify reports it from
// VerifyRaw's Status.Copy).
type CopyState int

const (
	CopyMissing CopyState = iota // nothing: the copy is made
	CopyGood                     // MNIST's contents (a link to them too): read
	// CopyDamaged: a regular file that is not an IDX file (cut short,
	// garbage): of no use to anyone, so made again.
	CopyDamaged
	// CopyOther: a well-formed IDX file of other contents (a damaged copy
	// cannot be told from another dataset's file), a link to something
	// else, a folder, a named pipe, something that cannot be read: left
	// as it is, the .gz file read instead, so that nothing a user put
	// there is lost.
	CopyOther
)

// looked is what lookAt found at a path: os.Lstat's error, whether it is
// a symbolic link, and readRegular's contents or error with the contents'
// SHA-256.
type looked struct {
	lerr, readErr error
	link          bool
	data          []byte
	sum           string // "" when not read
}

// lookAt examines the file at path for verify and readCopy alike.
func lookAt(path string) looked {
	st, lerr := os.Lstat(path)
	l := looked{lerr: lerr, link: lerr == nil && st.Mode()&fs.ModeSymlink != 0}
	l.data, l.readErr = readRegular(path)
	if l.readErr == nil {
		l.sum = sha256Hex(l.data)
	}
	return l
}

// copyState is the cache's one decision on an uncompressed copy's place
// (want: the SHA-256 of MNIST's contents): a link or a well-formed IDX
// file of other contents, or something that cannot be examined or read,
// is left as it is; only a regular file that is no IDX file is damaged.
func (l looked) copyState(want string) CopyState {
	switch {
	case errors.Is(l.lerr, fs.ErrNotExist):
		return CopyMissing
	case l.lerr != nil, l.readErr != nil:
		return CopyOther
	case l.sum == want:
		return CopyGood
	case l.link, IsIDX(l.data):
		return CopyOther
	}
	return CopyDamaged
}

// readCopy returns file's uncompressed copy when it holds MNIST's contents,
// and what its place holds (saying on the log what is wrong with it).
func (f *Fetcher) readCopy(file File) ([]byte, CopyState) {
	p := f.rawPath(file)
	l := lookAt(p)
	state := l.copyState(file.RawSHA256)
	var why string
	switch {
	case state == CopyMissing:
		return nil, state
	case state == CopyGood:
		return l.data, state
	case state == CopyDamaged:
		f.logf("the cached uncompressed %s is damaged (SHA-256 %s, expected %s, and not an IDX file): made again from %s", p, l.sum, file.RawSHA256, file.Name)
		return nil, state
	case l.lerr != nil:
		why = fmt.Sprintf("cannot be examined (%v)", l.lerr)
	case l.readErr != nil:
		why = l.readErr.Error()
		var pe *fs.PathError
		if errors.As(l.readErr, &pe) {
			why = pe.Err.Error()
		}
		if !strings.HasPrefix(why, "is ") { // "is a folder, not a file"
			why = "cannot be read (" + why + ")"
		}
	case l.link:
		why = fmt.Sprintf("is a link to a file that is not MNIST's contents (SHA-256 %s, expected %s)", l.sum, file.RawSHA256)
	default:
		why = fmt.Sprintf("is a well-formed IDX file, but not MNIST's contents (SHA-256 %s, expected %s): a damaged copy, or another dataset's file", l.sum, file.RawSHA256)
	}
	if _, err := os.Lstat(filepath.Join(f.Dir, file.Name)); errors.Is(err, fs.ErrNotExist) && l.readErr == nil && otherIDX(file, l.data) {
		// No .gz to read instead, and fetching one is refused while
		// another dataset's file is in the way (inTheWay): that refusal
		// says what to do. Else the .gz fetched is read instead, as said.
		return nil, state
	}
	f.logf("the uncompressed %s %s: left as it is, and %s read instead; remove it to have the cache make its copy again", p, why, file.Name)
	return nil, state
}

// makeCopy decompresses file's .gz file (checked by ensure), checks the
// contents' SHA-256 and, where the copy's place is empty or holds a damaged
// copy (state), keeps them as the uncompressed copy. A copy that cannot be
// written (a full disk, a read-only cache) costs only time: the next
// command decompresses again.
func (f *Fetcher) makeCopy(file File, state CopyState) ([]byte, error) {
	gzPath := filepath.Join(f.Dir, file.Name)
	raw, err := fileutil.ReadFile(gzPath, MaxFileBytes)
	if err != nil {
		return nil, err
	}
	data, err := readAll(gzPath, raw)
	if err != nil {
		return nil, &ParseError{err}
	}
	if got := sha256Hex(data); got != file.RawSHA256 {
		return nil, &ParseError{fmt.Errorf("%s: its contents have SHA-256 %s, expected %s, though the file itself checked out: it changed while being read, or this build's checksums are wrong; run the command again, and report it if it repeats", gzPath, got, file.RawSHA256)}
	}
	if state != CopyMissing && state != CopyDamaged {
		return data, nil
	}
	if err := fileutil.WriteAtomic(f.rawPath(file), data, 0o644); err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			// A cache this user may read but not write (a shared one, a
			// container's): nothing is wrong, and the same warning at
			// every command for every file was noise. Said once a
			// process.
			readOnlyOnce.Do(func() {
				f.logf("note: the data folder %s is read-only to this user, so its .gz files are decompressed at each command (a second or so)", filepath.Dir(gzPath))
			})
			return data, nil
		}
		if fileutil.NoSpace(err) || errors.Is(err, syscall.EFBIG) {
			// No room (a full disk, a quota, ulimit -f): the command
			// goes on, so a hint to run it again does not fit. Said once
			// a process, for all the files.
			noRoomOnce.Do(func() {
				if errors.Is(err, syscall.EFBIG) {
					f.logf("note: the uncompressed copies are larger than this process may write a file (ulimit -f), so the .gz files in %s are decompressed at each command (a second or so); with the limit raised (ulimit -f unlimited, where the hard limit allows), they are kept", filepath.Dir(gzPath))
					return
				}
				f.logf("note: no room to keep the uncompressed copies in %s (%v), so its .gz files are decompressed at each command (a second or so); once there is room for them (%d MB in all), they are kept", filepath.Dir(gzPath), rootCause(err), rawBytesMB)
			})
			return data, nil
		}
		f.logf("could not keep an uncompressed copy of %s (%v): the next command decompresses it again", gzPath, err)
	} else {
		f.logf("  kept %s uncompressed (%d bytes, SHA-256 ok) for faster reading", file.Name, len(data))
	}
	return data, nil
}

// readOnlyOnce and noRoomOnce: the notes on a read-only data folder and
// on one without room for the copies, once a process.
var readOnlyOnce, noRoomOnce sync.Once

// rawBytesMB is the uncompressed copies' size, in MB rounded up.
const rawBytesMB = 55

// rootCause is err's innermost error ("no space left on device").
func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// readRegular reads the file at path when it is a regular file (through
// links) and not over MaxFileBytes; anything else in its place (a folder,
// a named pipe that would wait for a writer) is an error at once.
func readRegular(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: notFileError("is " + fileutil.Kind(st.Mode()) + ", not a file")}
	}
	return fileutil.ReadFile(path, MaxFileBytes)
}

// notFileError is readRegular's error for what is not a file; it matches
// errNotFile.
type notFileError string

func (e notFileError) Error() string        { return string(e) }
func (e notFileError) Is(target error) bool { return target == errNotFile }

var errNotFile = errors.New("not a file")
