// data.go: `cnngpu data fetch|verify`: fill and check the MNIST cache.

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/cnngpu/cnngpu/internal/shell"
	"github.com/cnngpu/cnngpu/loader"
	"github.com/urfave/cli/v2"
)

func dataCommand() *cli.Command {
	return &cli.Command{
		Name:         "data",
		Usage:        "fetch or verify the MNIST files in the cache",
		OnUsageError: onUsage,
		Subcommands: []*cli.Command{
			{
				Name:         "fetch",
				Usage:        "download the four MNIST files into the cache, checking their SHA-256",
				OnUsageError: onUsage,
				Flags:        []cli.Flag{&cli.StringFlag{Name: "dir", Usage: "folder to fetch into (default: $XDG_CACHE_HOME/cnngpu/mnist or ~/.cache/cnngpu/mnist)"}},
				Action: func(c *cli.Context) error {
					dir, err := dataDir(c)
					if err != nil {
						return err
					}
					f := loader.NewFetcher(dir)
					f.Log = c.App.ErrWriter
					if _, err := f.Ensure(c.Context); err != nil {
						return err
					}
					m, err := loader.LoadDir(dir)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "MNIST ready in %s: %d training and %d test images, checksums verified\n", dir, m.Train.N(), m.Test.N())
					return nil
				},
			},
			{
				Name:         "verify",
				Usage:        "re-check the SHA-256 of every cached file (raw IDX files in a --data folder: their structure)",
				OnUsageError: onUsage,
				Flags:        []cli.Flag{&cli.StringFlag{Name: "dir", Aliases: []string{"data"}, Usage: "folder to verify (default: the cache); --data is the same"}},
				Action:       verifyAction,
			},
		},
	}
}

func dataDir(c *cli.Context) (string, error) {
	if d := c.String("dir"); d != "" {
		return d, nil
	}
	return loader.CacheDir()
}

// verifyAction checks the .gz files of a folder against their published
// SHA-256; files present only uncompressed (a --data folder may hold raw
// IDX files, for which no checksum is published) are checked by parsing.
func verifyAction(c *cli.Context) error {
	dir, err := dataDir(c)
	if err != nil {
		return err
	}
	out := c.App.Writer
	bad, raw := 0, 0
	for _, st := range loader.Verify(dir) {
		if st.OK {
			fmt.Fprintf(out, "ok    %s\n", st.Path)
			continue
		}
		if r := strings.TrimSuffix(st.Path, ".gz"); errors.Is(st.Err, fs.ErrNotExist) && fileExists(r) {
			raw++
			continue
		}
		bad++
		fmt.Fprintf(out, "BAD   %s: %v\n", st.Path, st.Err)
	}
	if raw > 0 {
		if _, err := loader.LoadDir(dir); err != nil {
			bad++
			fmt.Fprintf(out, "BAD   %v\n", err)
		} else {
			fmt.Fprintf(out, "ok    %s: %s uncompressed, read and structurally checked (SHA-256 is published only for the .gz files)\n",
				dir, plural(raw, "file"))
		}
	}
	if bad > 0 {
		fix := self() + " data fetch"
		if c.IsSet("dir") {
			fix += " --dir " + shell.Quote(dir)
		}
		return fmt.Errorf("%d of %d files failed verification; to fetch them again, run: %s", bad, len(loader.Files), fix)
	}
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
