// common.go: what several subcommands share: locating and loading MNIST,
// choosing the engine, terminal detection.

package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/loader"
	"github.com/urfave/cli/v2"
)

var dataFlag = &cli.StringFlag{
	Name:  "data",
	Usage: "folder with the four MNIST IDX files (raw or .gz), used as they are; default: the cache, fetched and checksummed on first use",
}

var cpuFlag = &cli.BoolFlag{Name: "cpu", Usage: "run on the CPU engine"}

var threadsFlag = &cli.IntFlag{Name: "threads", Usage: "CPU engine worker threads (0 = all cores)", Value: 0}

// loadMNIST reads --data DIR as it is, or makes sure the cache holds
// checksummed files (fetching them) and reads those.
func loadMNIST(ctx context.Context, c *cli.Context, log io.Writer) (*loader.MNIST, error) {
	if dir := c.String("data"); dir != "" {
		m, err := loader.LoadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
		return m, nil
	}
	dir, err := loader.CacheDir()
	if err != nil {
		return nil, err
	}
	f := loader.NewFetcher(dir)
	f.Log = log
	if _, err := f.Ensure(ctx); err != nil {
		return nil, err
	}
	return loader.LoadDir(dir)
}

// newEngine returns the engine the flags ask for.
func newEngine(c *cli.Context) (engine.Engine, error) {
	if n := c.Int("threads"); n < 0 {
		return nil, usageErrorf("--threads %d: expected 0 (all cores) or a positive number", n)
	}
	e := cpu.New(c.Int("threads"))
	return e, nil
}

// isTerminal reports whether f is a terminal (progress bars) rather than a
// pipe or file (plain lines).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func percent(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }
