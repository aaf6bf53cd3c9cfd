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
// under whatever folder cnngpu is started in, a new one for each; so is a
// relative $HOME, for the same reason.
func Root() (string, error) {
	x := os.Getenv("XDG_CACHE_HOME")
	if x != "" && filepath.IsAbs(x) {
		if st, err := os.Stat(x); err == nil && !st.IsDir() {
			return "", fmt.Errorf("no cache folder: $XDG_CACHE_HOME (%s) is a file, not a folder: set it to a folder, or unset it for ~/.cache", x)
		}
		return filepath.Join(x, "cnngpu"), nil
	}
	home, err := os.UserHomeDir()
	if err == nil && !filepath.IsAbs(home) {
		err = fmt.Errorf("$HOME is %q, not an absolute path", home)
	}
	if err != nil {
		why := "$XDG_CACHE_HOME is not set"
		if x != "" {
			why = fmt.Sprintf("$XDG_CACHE_HOME is %q, not an absolute path (ignored)", x)
		}
		return "", fmt.Errorf("no cache folder: %s, and there is no home folder to use instead (%v)", why, err)
	}
	return filepath.Join(home, ".cache", "cnngpu"), nil
}
