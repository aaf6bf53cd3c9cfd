// version.go: `cnngpu --version`: the version and VCS revision the binary
// was built from (Go's build info), the Go version, and whether the GPU
// bindings are compiled in (a cgo build) or not (CGO_ENABLED=0: CPU only).

package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/internal/shell"
	"github.com/urfave/cli/v2"
)

// vcsRevision is the revision `make build` passes with -ldflags -X, for
// builds without VCS stamping (-buildvcs=false in GOFLAGS, or a git
// worktree, where go build does not stamp); the build info's own
// vcs.revision wins where there is one.
var vcsRevision string

func versionFlag() cli.Flag {
	return &cli.BoolFlag{Name: "version", Usage: "print the version, VCS revision, Go version and whether GPU support is built in"}
}

// rootBefore runs before any command: --trace, and --version refused
// before a command (which would run, the flag ignored: a whole training
// for "cnngpu --version train").
func rootBefore(c *cli.Context) error {
	if c.Bool("version") && c.Args().Present() {
		return usageErrorf("--version takes no command: %s prints the version, and %s runs without it", shell.Command("--version"), shell.Command(c.Args().First()))
	}
	return traceBefore(c)
}

// rootAction runs when no command is given: --version, else the help.
func rootAction(c *cli.Context) error {
	if c.Bool("version") {
		bi, ok := debug.ReadBuildInfo()
		if !ok {
			bi = nil
		}
		fmt.Fprint(c.App.Writer, versionText(bi, vcsRevision, runtime.GOOS+"/"+runtime.GOARCH, cuda.BindingsCompiled))
		return nil
	}
	if c.Args().Present() {
		return withCode(2, fmt.Errorf("no command %q (see 'cnngpu --help')", c.Args().First()))
	}
	return cli.ShowAppHelp(c)
}

// versionText formats the build info bi (nil: none recorded), with
// fallback as the revision where bi has none, for platform and whether the
// GPU bindings are compiled in.
func versionText(bi *debug.BuildInfo, fallback, platform string, gpu bool) string {
	version, goVersion := "unknown (no build info recorded)", runtime.Version()
	settings := map[string]string{}
	if bi != nil {
		version, goVersion = bi.Main.Version, bi.GoVersion
		if version == "" {
			version = "(devel)"
		}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cnngpu %s\n", version)
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, "revision %s", rev)
		if t := settings["vcs.time"]; t != "" {
			fmt.Fprintf(&b, " (%s)", t)
		}
		if settings["vcs.modified"] == "true" {
			b.WriteString(", with uncommitted changes")
		}
		b.WriteString("\n")
	} else if fallback != "" {
		fmt.Fprintf(&b, "revision %s (from the git checkout make built it in, or the container build's REV)\n", fallback)
	} else {
		b.WriteString("revision unknown (built outside a git checkout, or with -buildvcs=false)\n")
	}
	fmt.Fprintf(&b, "built with %s for %s\n", goVersion, platform)
	if gpu {
		b.WriteString("GPU support: compiled in (cgo); the NVIDIA driver, cuBLAS and cuDNN are loaded when a command needs them ('cnngpu devices' shows what is found)\n")
	} else {
		b.WriteString("GPU support: not compiled in: the CPU engine only; " + cuda.NoBindingsWhy() + "\n")
	}
	return b.String()
}
