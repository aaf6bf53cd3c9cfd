// data.go: `cnngpu data fetch|verify`: fill and check the MNIST cache.

package main

import (
	"fmt"

	"github.com/cnngpu/cnngpu/loader"
	"github.com/urfave/cli/v2"
)

func dataCommand() *cli.Command {
	return &cli.Command{
		Name:  "data",
		Usage: "fetch or verify the MNIST files in the cache",
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
				Usage:        "re-check the SHA-256 of every cached file",
				OnUsageError: onUsage,
				Flags:        []cli.Flag{&cli.StringFlag{Name: "dir", Usage: "folder to verify (default: the cache)"}},
				Action: func(c *cli.Context) error {
					dir, err := dataDir(c)
					if err != nil {
						return err
					}
					bad := 0
					for _, st := range loader.Verify(dir) {
						if st.OK {
							fmt.Fprintf(c.App.Writer, "ok    %s\n", st.Path)
						} else {
							bad++
							fmt.Fprintf(c.App.Writer, "BAD   %s: %v\n", st.Path, st.Err)
						}
					}
					if bad > 0 {
						return fmt.Errorf("%d of %d files failed verification; run 'cnngpu data fetch' to replace them", bad, len(loader.Files))
					}
					return nil
				},
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
