// cache.go: reading MNIST from the cache folder. Beside each checked .gz
// file the cache keeps its contents uncompressed (55 MB for the four), made
// at the first read; later commands read and check those instead of
// decompressing the .gz files again, which is most of reading the data
// (docs/performance.md). An uncompressed copy is trusted only when its
// SHA-256 is that of the published file's contents (File.RawSHA256),
// checked at every read as the .gz files are; one that is missing,
// unreadable or damaged is made again from its .gz file.

package loader

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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

func (f *Fetcher) rawPath(file File) string { return filepath.Join(f.Dir, file.RawName()) }

// contents returns the uncompressed contents of files: each one's
// uncompressed copy where its SHA-256 is right, else its .gz file
// decompressed (fetched first when missing or damaged: ensure), after
// which the copy is kept for the next command.
func (f *Fetcher) contents(ctx context.Context, files []File) ([][]byte, error) {
	data, _ := eachOf(len(files), func(i int) ([]byte, error) { return f.readCopy(files[i]), nil })
	var need []int
	for i, d := range data {
		if d == nil {
			need = append(need, i)
		}
	}
	if len(need) == 0 {
		return data, nil
	}
	if err := f.ensure(ctx, files); err != nil {
		return nil, err
	}
	made, err := eachOf(len(need), func(k int) ([]byte, error) { return f.makeCopy(files[need[k]]) })
	if err != nil {
		return nil, err
	}
	for k, i := range need {
		data[i] = made[k]
	}
	return data, nil
}

// readCopy returns file's uncompressed copy when it is there and its
// SHA-256 is right, else nil (saying why on the log unless it is missing).
func (f *Fetcher) readCopy(file File) []byte {
	p := f.rawPath(file)
	b, err := readRegular(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			f.logf("the cached uncompressed %s cannot be read (%v): made again from %s", p, err, file.Name)
		}
		return nil
	}
	if got := sha256Hex(b); got != file.RawSHA256 {
		f.logf("the cached uncompressed %s is damaged (SHA-256 %s, expected %s): made again from %s", p, got, file.RawSHA256, file.Name)
		return nil
	}
	return b
}

// makeCopy decompresses file's .gz file (checked by Ensure), checks the
// contents' SHA-256 and keeps them as the uncompressed copy. A copy that
// cannot be written (a full disk, a read-only cache) costs only time: the
// next command decompresses again.
func (f *Fetcher) makeCopy(file File) ([]byte, error) {
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
	if err := fileutil.WriteAtomic(f.rawPath(file), data, 0o644); err != nil {
		f.logf("could not keep an uncompressed copy of %s (%v): the next command decompresses it again", gzPath, err)
	} else {
		f.logf("  kept %s uncompressed (%d bytes, SHA-256 ok) for faster reading", file.Name, len(data))
	}
	return data, nil
}

// readRegular reads the file at path when it is a regular file (through
// links) and not over MaxFileBytes; anything else in its place (a folder,
// a named pipe that would wait for a writer) is an error at once.
func readRegular(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if t := st.Mode().Type(); t != 0 {
		what := "not a regular file"
		switch {
		case t&fs.ModeDir != 0:
			what = "a folder, not a file"
		case t&fs.ModeNamedPipe != 0:
			what = "a named pipe, not a file"
		case t&fs.ModeDevice != 0:
			what = "a device, not a file"
		case t&fs.ModeSocket != 0:
			what = "a socket, not a file"
		}
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("is " + what)}
	}
	return fileutil.ReadFile(path, MaxFileBytes)
}
