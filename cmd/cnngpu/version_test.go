// version_test.go: `cnngpu --version` and its text for each kind of build
// info (stamped revision, uncommitted changes, make's fallback, none) and
// for builds with and without the GPU bindings.

package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/cuda"
)

func TestVersionText(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.time", Value: "2026-11-27T15:22:58Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	for _, c := range []struct {
		name     string
		bi       *debug.BuildInfo
		fallback string
		gpu      bool
		want     []string
	}{
		{"stamped", stamped, "ffff", true, []string{"cnngpu v1.2.3\n", "revision 0123456789abcdef (2026-11-27T15:22:58Z), with uncommitted changes\n",
			"built with go1.26.8 for linux/amd64\n", "GPU support: compiled in (cgo)"}},
		{"make's revision", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "abc-dirty", false,
			[]string{"cnngpu (devel)\n", "revision abc-dirty (from the git checkout make built it in, or the container build's REV)\n", "GPU support: not compiled in: the CPU engine only; built without cgo (CGO_ENABLED=0, which Go sets itself where it finds no C compiler), so it cannot load the NVIDIA driver; to use a GPU, install a C compiler"}},
		{"no revision", &debug.BuildInfo{GoVersion: "go1.26.8"}, "", true, []string{"cnngpu (devel)\n", "revision unknown"}},
		{"no build info", nil, "", false, []string{"cnngpu unknown", "revision unknown", "built with " + runtime.Version()}},
	} {
		got := versionText(c.bi, c.fallback, "linux/amd64", c.gpu)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: version text lacks %q:\n%s", c.name, w, got)
			}
		}
		if c.name == "stamped" && strings.Contains(got, "ffff") {
			t.Errorf("stamped: make's revision shown although the build info has one:\n%s", got)
		}
	}
}

// TestVersionFlag: the binary answers --version with exit 0, naming the Go
// version it was built with and, for this build, whether it has the GPU
// bindings; an unknown command is a usage error.
func TestVersionFlag(t *testing.T) {
	stdout, stderr, code := cnngpu(t, nil, "--version")
	gpu := "GPU support: not compiled in"
	if cuda.BindingsCompiled {
		gpu = "GPU support: compiled in"
	}
	for _, w := range []string{"cnngpu ", "revision ", "built with " + runtime.Version(), gpu} {
		if code != 0 || !strings.Contains(stdout, w) {
			t.Errorf("cnngpu --version: exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, w)
		}
	}
	if _, stderr, code := cnngpu(t, nil, "tran"); code != 2 || !strings.Contains(stderr, `"tran"`) {
		t.Errorf("cnngpu tran: exit %d, stderr %q; want exit 2 naming the command", code, stderr)
	}
	// "version" as a command points to the flag; the flag before a
	// command is refused, not ignored (the command ran: a whole training).
	if _, stderr, code := cnngpu(t, nil, "version"); code != 2 || !strings.Contains(stderr, "--version") {
		t.Errorf("cnngpu version: exit %d, stderr %q; want exit 2 pointing to --version", code, stderr)
	}
	dir := t.TempDir()
	if _, stderr, code := runIn(t, dir, time.Minute, "--version", "train", "--cpu", "--data", dir); code != 2 || !strings.Contains(stderr, "--version takes no command") {
		t.Errorf("cnngpu --version train: exit %d\n%s; want exit 2, refused", code, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("cnngpu --version train left %d entries in its folder", len(entries))
	}
}
