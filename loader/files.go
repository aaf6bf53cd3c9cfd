// files.go: the four MNIST files, their checksums, and finding them in a
// folder, compressed or not.

package loader

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cnngpu/cnngpu/internal/cachedir"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/shell"
	"github.com/cnngpu/cnngpu/internal/shown"
	"github.com/cnngpu/cnngpu/internal/trace"
)

// File is one of the four MNIST files as distributed.
type File struct {
	Name   string // e.g. train-images-idx3-ubyte.gz
	SHA256 string // of the .gz file as published
	// RawSHA256 is the SHA-256 of the .gz file's contents, uncompressed:
	// what the cache's uncompressed copy (RawName) must hold.
	RawSHA256 string
}

// RawName is the file's name uncompressed (without .gz).
func (f File) RawName() string { return strings.TrimSuffix(f.Name, ".gz") }

// Files lists the MNIST files with the SHA-256 of the original .gz files
// and of their contents.
var Files = []File{
	{"train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"},
	{"train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
	{"t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
	{"t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
}

// CacheDir is where fetched MNIST files are kept:
// $XDG_CACHE_HOME/cnngpu/mnist, else ~/.cache/cnngpu/mnist.
func CacheDir() (string, error) {
	root, err := cachedir.Root()
	if err != nil {
		return "", fmt.Errorf("%v (use --data DIR)", err)
	}
	return filepath.Join(root, "mnist"), nil
}

// DataFlag is the --data flag that reads dir again, as an argument to add
// to a command (" --data DIR", absolute), or "" where dir is the cache,
// which a command reads without it.
func DataFlag(dir string) string {
	if dir == "" {
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	if cache, err := CacheDir(); err == nil {
		if c, err := filepath.Abs(cache); err == nil && c == abs {
			return ""
		}
	}
	return " --data " + shell.Path(abs)
}

// find returns the path of f in dir: the .gz name, or the name without .gz
// (raw IDX), or "" when neither exists.
func find(dir string, f File) string {
	for _, n := range []string{f.Name, f.RawName()} {
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// MNIST is the training and test sets.
type MNIST struct {
	Train, Test *Set
	Dir         string
}

// LoadDir reads the four files from dir, raw or gzip, with the structural
// checks but no checksum (so other datasets in the same IDX format work).
func LoadDir(dir string) (*MNIST, error) {
	defer trace.Begin(trace.ReadData).End()
	paths, err := findAll(dir, Files, "the four MNIST IDX files")
	if err != nil {
		return nil, err
	}
	sets, err := readSets(paths)
	if err != nil {
		return nil, err
	}
	return &MNIST{Train: sets[0], Test: sets[1], Dir: dir}, nil
}

// LoadTestDir reads only the test set's two files from dir (what
// evaluating a model needs), as LoadDir does.
func LoadTestDir(dir string) (*Set, error) {
	defer trace.Begin(trace.ReadData).End()
	paths, err := findAll(dir, Files[2:], "the MNIST test set's two IDX files")
	if err != nil {
		return nil, err
	}
	return ReadSet(paths[0], paths[1])
}

// readSets reads the sets of paths (image file, label file, image file,
// ...) at once, each on its own goroutine (decompressing the training
// images is most of the time, the test set's beside it); an error is the
// first set's in paths' order.
func readSets(paths []string) ([]*Set, error) {
	return eachOf(len(paths)/2, func(i int) (*Set, error) {
		return ReadSet(paths[2*i], paths[2*i+1])
	})
}

// eachOf runs do(0), ..., do(n-1) on goroutines of their own and returns
// their results in order, or the error of the lowest i that failed.
func eachOf[T any](n int, do func(i int) (T, error)) ([]T, error) {
	out := make([]T, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i], errs[i] = do(i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// findAll returns the paths of files in dir, or an error naming those
// missing (what: what the folder should hold).
func findAll(dir string, files []File, what string) ([]string, error) {
	paths := make([]string, len(files))
	var missing, odd []string
	for i, f := range files {
		paths[i] = find(dir, f)
		if paths[i] != "" {
			continue
		}
		missing = append(missing, f.Name)
		for _, n := range []string{f.Name, f.RawName()} {
			p := filepath.Join(dir, n)
			if st, err := os.Stat(p); err == nil {
				odd = append(odd, n+" there is "+fileutil.Kind(st.Mode()))
			} else if to, lerr := os.Readlink(p); lerr == nil && errors.Is(err, fs.ErrNotExist) {
				odd = append(odd, n+" there is a symbolic link to "+to+", which does not exist")
			} else if lerr == nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err // p is named already
				}
				odd = append(odd, n+" there is a symbolic link to "+to+", which cannot be followed ("+err.Error()+")")
			}
		}
	}
	if len(missing) > 0 {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("data folder %s does not exist: give the folder that holds %s, or leave --data out to use the cache (fetched and checksummed on first use)", dir, what)
		}
		if _, err := os.ReadDir(dir); err != nil {
			// A folder this user cannot list (or one above it cannot be
			// entered): the files may well be there.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, shown.As(fmt.Sprintf("data folder %s cannot be read (%v): give a folder you can read, or ask its owner for access (chmod a+rx %s)", dir, err, dir), err)
		}
		if len(odd) > 0 {
			return nil, fmt.Errorf("data folder %s lacks %s (each may be gzip-compressed or raw, with or without .gz); %s: give the files themselves", dir, strings.Join(missing, ", "), strings.Join(odd, ", "))
		}
		// Files not there (yet): fs.ErrNotExist, for a dry run that plans
		// before the data is fetched.
		return nil, shown.As(fmt.Sprintf("data folder %s lacks %s (each may be gzip-compressed or raw, with or without .gz)", dir, strings.Join(missing, ", ")), fs.ErrNotExist)
	}
	return paths, nil
}
