// Package cachedir says where cnngpu keeps what it fetches and remembers:
// $XDG_CACHE_HOME/cnngpu, else ~/.cache/cnngpu (the MNIST files in its
// mnist folder, the GPU engine's remembered cuDNN choices beside them).
package cachedir

import (
	"fmt"
	"os"
	"path/filepath"
)

// Root is cnngpu's cache folder. A relative $XDG_CACHE_HOME is ignored, as
// the XDG Base Directory Specification says: it would put the cache
// under whatever folder cnngpu is started in, a new one for each.
func Root() (string, error) {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "cnngpu"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder: neither $XDG_CACHE_HOME nor a home folder is set: %v", err)
	}
	return filepath.Join(home, ".cache", "cnngpu"), nil
}
