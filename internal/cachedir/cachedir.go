// Package cachedir says where cnngpu keeps what it fetches and remembers
// (the MNIST files in its mnist folder, the GPU engine's remembered cuDNN
// choices beside them): $XDG_CACHE_HOME/cnngpu, else ~/.cache/cnngpu, on
// Windows %LocalAppData%\cnngpu.
package cachedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/cnngpu/cnngpu/internal/fileutil"
)

// Root is cnngpu's cache folder. A relative $XDG_CACHE_HOME is ignored, as
// the XDG Base Directory Specification says: it would put the cache
// under whatever folder cnngpu is started in, a new one for each; so is a
// relative $HOME, for the same reason.
func Root() (string, error) {
	x := os.Getenv("XDG_CACHE_HOME")
	if x != "" && filepath.IsAbs(x) {
		return usable(filepath.Join(x, "cnngpu"), func(f string) error {
			if f == filepath.Clean(x) {
				return fmt.Errorf("no cache folder: $XDG_CACHE_HOME (%s) is %s, not a folder: set it to a folder, or unset it for ~/.cache", x, fileutil.KindAt(f))
			}
			return fmt.Errorf("no cache folder: $XDG_CACHE_HOME (%s) lies under %s, %s, not a folder: set it to a folder, or unset it for ~/.cache", x, f, fileutil.KindAt(f))
		})
	}
	if d := os.Getenv("LocalAppData"); runtime.GOOS == "windows" && d != "" && filepath.IsAbs(d) {
		// Windows' place for a program's cache (os.UserCacheDir).
		return usable(filepath.Join(d, "cnngpu"), func(f string) error {
			return fmt.Errorf("no cache folder: %s lies under %s, %s, not a folder: move it away, or set XDG_CACHE_HOME to a folder", filepath.Join(d, "cnngpu"), f, fileutil.KindAt(f))
		})
	}
	home, err := os.UserHomeDir()
	if err == nil && !filepath.IsAbs(home) {
		err = fmt.Errorf("$HOME is %q, not an absolute path", home)
	}
	if h, set := os.LookupEnv("HOME"); err != nil && set && h == "" && runtime.GOOS != "windows" && runtime.GOOS != "plan9" {
		err = errors.New("$HOME is set but empty") // not "is not defined"
	}
	if err != nil {
		why := "$XDG_CACHE_HOME is not set"
		if x != "" {
			why = fmt.Sprintf("$XDG_CACHE_HOME is %q, not an absolute path (ignored)", x)
		}
		return "", fmt.Errorf("no cache folder: %s, and there is no home folder to use instead (%v)", why, err)
	}
	return usable(filepath.Join(home, ".cache", "cnngpu"), func(f string) error {
		if f == filepath.Join(home, ".cache") {
			return fmt.Errorf("no cache folder: %s, which would hold it, is %s, not a folder: move it away, or set XDG_CACHE_HOME to a folder", f, fileutil.KindAt(f))
		}
		return fmt.Errorf("no cache folder: $HOME (%s) is not a folder (%s is %s): set XDG_CACHE_HOME to a folder", home, f, fileutil.KindAt(f))
	})
}

// IgnoredXDG is $XDG_CACHE_HOME where it is set but ignored (a relative
// path: see Root), else "": for a note, since the shell's own
// ${XDG_CACHE_HOME:-~/.cache} takes it.
func IgnoredXDG() string {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" && !filepath.IsAbs(x) {
		return x
	}
	return ""
}

// usable returns root where it is a folder or can be made, else the error
// for the file in the way: root itself, or (above, which words it for
// where root came from) one of the folders above it.
func usable(root string, above func(file string) error) (string, error) {
	switch f := fileOnPath(root); f {
	case "":
		return root, nil
	case root:
		return "", fmt.Errorf("no cache folder: %s, where it goes, is %s, not a folder: move it away, or set XDG_CACHE_HOME to another folder", root, fileutil.KindAt(root))
	default:
		return "", above(f)
	}
}

// fileOnPath returns the nearest of path and the folders above it that
// exists, when that is not a folder (so that nothing can be made at
// path), else "".
func fileOnPath(path string) string {
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil {
			if st.IsDir() {
				return ""
			}
			return p
		}
		if p == filepath.Dir(p) {
			return ""
		}
	}
}
