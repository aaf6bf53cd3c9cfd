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

	"github.com/cnngpu/cnngpu/internal/cachedir"
	"github.com/cnngpu/cnngpu/internal/trace"
)

// File is one of the four MNIST files as distributed.
type File struct {
	Name   string // e.g. train-images-idx3-ubyte.gz
	SHA256 string
}

// Files lists the MNIST files with the SHA-256 of the original .gz files.
var Files = []File{
	{"train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"},
	{"train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"},
	{"t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"},
	{"t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
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

// find returns the path of f in dir: the .gz name, or the name without .gz
// (raw IDX), or "" when neither exists.
func find(dir string, f File) string {
	for _, n := range []string{f.Name, strings.TrimSuffix(f.Name, ".gz")} {
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
	train, err := ReadSet(paths[0], paths[1])
	if err != nil {
		return nil, err
	}
	test, err := ReadSet(paths[2], paths[3])
	if err != nil {
		return nil, err
	}
	return &MNIST{Train: train, Test: test, Dir: dir}, nil
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

// findAll returns the paths of files in dir, or an error naming those
// missing (what: what the folder should hold).
func findAll(dir string, files []File, what string) ([]string, error) {
	paths := make([]string, len(files))
	var missing []string
	for i, f := range files {
		paths[i] = find(dir, f)
		if paths[i] == "" {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("data folder %s does not exist: give the folder that holds %s, or leave --data out to use the cache (fetched and checksummed on first use)", dir, what)
		}
		return nil, fmt.Errorf("data folder %s lacks %s (each may be gzip-compressed or raw, with or without .gz)", dir, strings.Join(missing, ", "))
	}
	return paths, nil
}
