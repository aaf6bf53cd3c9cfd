// cachedir_test.go: where the cache folder is for each $XDG_CACHE_HOME.

package cachedir

import (
	"path/filepath"
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
