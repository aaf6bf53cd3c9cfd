// cachedir_test.go: where the cache folder is for each $XDG_CACHE_HOME.

package cachedir

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestRoot: an absolute $XDG_CACHE_HOME holds the cache; an empty or a
// relative one (which would make the cache depend on the folder cnngpu is
// started in: "cache", ".", "rel/dir") is ignored for ~/.cache.
func TestRoot(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	abs := filepath.Join(t.TempDir(), "xdg")
	for _, c := range []struct{ xdg, want string }{
		{abs, filepath.Join(abs, "cnngpu")},
		{"", filepath.Join(home, ".cache", "cnngpu")},
		{"cache", filepath.Join(home, ".cache", "cnngpu")},
		{".", filepath.Join(home, ".cache", "cnngpu")},
		{"rel/dir", filepath.Join(home, ".cache", "cnngpu")},
	} {
		t.Setenv("XDG_CACHE_HOME", c.xdg)
		got, err := Root()
		if err != nil || got != c.want {
			t.Errorf("XDG_CACHE_HOME=%q: %q, %v; want %q", c.xdg, got, err, c.want)
		}
	}
}

// TestRootRefused: a $XDG_CACHE_HOME that is a file or lies under one, a
// ~/.cache that is a file, and a relative $HOME with no usable
// $XDG_CACHE_HOME, are errors that say which is wrong.
func TestRootRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", file)
	if _, err := Root(); err == nil || !strings.Contains(err.Error(), "$XDG_CACHE_HOME ("+file+") is a file, not a folder") {
		t.Errorf("XDG_CACHE_HOME a file: %v", err)
	}
	if _, err := os.Stat("/dev/null"); err == nil {
		t.Setenv("XDG_CACHE_HOME", "/dev/null")
		if _, err := Root(); err == nil || !strings.Contains(err.Error(), "$XDG_CACHE_HOME (/dev/null) is a character device, not a folder") {
			t.Errorf("XDG_CACHE_HOME /dev/null: %v", err)
		}
		t.Setenv("XDG_CACHE_HOME", file)
	}
	// Under a file: nothing can be made there.
	under := filepath.Join(file, "sub", "dir")
	t.Setenv("XDG_CACHE_HOME", under)
	if _, err := Root(); err == nil || !strings.Contains(err.Error(), "$XDG_CACHE_HOME ("+under+") lies under "+file+", a file, not a folder") {
		t.Errorf("XDG_CACHE_HOME under a file: %v", err)
	}
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, ".cache"), nil, 0o644)
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", "")
	if _, err := Root(); err == nil || !strings.Contains(err.Error(), filepath.Join(home, ".cache")+", which would hold it, is a file") {
		t.Errorf("~/.cache a file: %v", err)
	}
	// $HOME itself a file (HOME=/dev/null for a service): not "move it".
	t.Setenv("HOME", file)
	if _, err := Root(); err == nil || !strings.Contains(err.Error(), "$HOME ("+file+") is not a folder") || strings.Contains(err.Error(), "move") {
		t.Errorf("$HOME a file: %v", err)
	}
	// The cache folder itself a file, under either.
	xdg := t.TempDir()
	os.WriteFile(filepath.Join(xdg, "cnngpu"), nil, 0o644)
	t.Setenv("XDG_CACHE_HOME", xdg)
	if _, err := Root(); err == nil || !strings.Contains(err.Error(), filepath.Join(xdg, "cnngpu")+", where it goes, is a file") {
		t.Errorf("$XDG_CACHE_HOME/cnngpu a file: %v", err)
	}
	// A link to a folder, and a dangling one (made when the cache is
	// filled), are fine.
	link, dangling := filepath.Join(t.TempDir(), "link"), filepath.Join(t.TempDir(), "dangling")
	os.Symlink(t.TempDir(), link)
	os.Symlink(filepath.Join(t.TempDir(), "nowhere"), dangling)
	for _, x := range []string{link, dangling} {
		t.Setenv("XDG_CACHE_HOME", x)
		if got, err := Root(); err != nil || got != filepath.Join(x, "cnngpu") {
			t.Errorf("XDG_CACHE_HOME=%s: %q, %v", x, got, err)
		}
	}
	t.Setenv("HOME", "rel")
	t.Setenv("XDG_CACHE_HOME", "also-rel")
	if _, err := Root(); err == nil || !strings.Contains(err.Error(), `$XDG_CACHE_HOME is "also-rel", not an absolute path (ignored)`) ||
		!strings.Contains(err.Error(), `$HOME is "rel", not an absolute path`) {
		t.Errorf("both relative: %v", err)
	}
	if runtime.GOOS != "windows" && runtime.GOOS != "plan9" {
		t.Setenv("HOME", "")
		t.Setenv("XDG_CACHE_HOME", "")
		if _, err := Root(); err == nil || !strings.Contains(err.Error(), "$HOME is set but empty") {
			t.Errorf("HOME set but empty: %v", err)
		}
	}
}
