// data.go: `cnngpu data fetch|verify`: fill and check the MNIST cache.

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/cnngpu/cnngpu/internal/fileutil"
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
				Flags:        []cli.Flag{&cli.StringFlag{Name: "dir", Aliases: []string{"data"}, Usage: "folder to fetch into (default: $XDG_CACHE_HOME/cnngpu/mnist or ~/.cache/cnngpu/mnist); --data is the same"}},
				Action: func(c *cli.Context) error {
					dir, err := dataDir(c)
					if err != nil {
						return err
					}
					if c.IsSet("dir") {
						// A file, a link to nothing, a folder that cannot
						// be made or written: said before any download.
						if err := checkOutDir(dirFlag(), dir); err != nil {
							return err
						}
					}
					// Ctrl-C stops the download and the go command's
					// (its temporary folder removed); what was cached
					// before it stays.
					ctx, stop := interruptContext(c.Context, c.App.ErrWriter)
					defer stop()
					f := loader.NewFetcher(dir)
					f.Log = c.App.ErrWriter
					if _, err := f.Ensure(ctx); err != nil {
						if ctx.Err() != nil {
							return withCode(130, fmt.Errorf("interrupted: the files checked and cached before are kept in %s, nothing half-written; run the same command again to fetch the rest", dir))
						}
						return err
					}
					// The cache also keeps the files uncompressed (made
					// here, not at the first training); another folder
					// is left with the four files alone.
					var m *loader.MNIST
					if cache, cerr := loader.CacheDir(); cerr == nil && samePath(dir, cache) {
						m, err = f.LoadMNIST(ctx)
					} else {
						m, err = loader.LoadDir(dir)
					}
					if ctx.Err() != nil {
						return withCode(130, fmt.Errorf("interrupted: the files checked and cached before are kept in %s, nothing half-written; run the same command again to go on", dir))
					}
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "MNIST ready in %s: %d training and %d test images, checksums verified\n", dir, m.Train.N(), m.Test.N())
					return nil
				},
			},
			{
				Name:         "verify",
				Usage:        "re-check the SHA-256 of every cached file (.gz files against the published checksums, uncompressed ones against those of the published files' contents)",
				OnUsageError: onUsage,
				Flags:        []cli.Flag{&cli.StringFlag{Name: "dir", Aliases: []string{"data"}, Usage: "folder to verify (default: the cache); --data is the same"}},
				Action:       verifyAction,
			},
		},
	}
}

// dirFlag is the name the user gave data fetch's and verify's folder
// flag: --dir, or its alias --data.
func dirFlag() string {
	for _, a := range os.Args[1:] {
		if a == "--" {
			break
		}
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && name == "data" {
			return "--data"
		}
	}
	return "--dir"
}

func dataDir(c *cli.Context) (string, error) {
	if err := emptyFlag(c, "dir", "a folder", "to use the cache"); err != nil {
		return "", err
	}
	if d := c.String("dir"); d != "" {
		return d, nil
	}
	return cacheDir(c.App.ErrWriter)
}

// verifyAction checks the .gz files of a folder against their published
// SHA-256, and the uncompressed files (the cache's copies, or a --data
// folder's raw IDX files) against the SHA-256 of the published files'
// contents. An uncompressed copy beside a good .gz file is not what a
// command reads when it is damaged (the cache makes it again; a --data
// folder reads the .gz), so it is reported without failing.
func verifyAction(c *cli.Context) error {
	dir, err := dataDir(c)
	if err != nil {
		return err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		switch {
		case c.IsSet("dir") && err == nil:
			// Exit 2, as train's --data FILE: a flag's value of the wrong kind.
			return usageErrorf("%s %s: is %s, not a folder; give the folder that holds the MNIST files", dirFlag(), dir, fileutil.Kind(st.Mode()))
		case c.IsSet("dir") && errors.Is(err, fs.ErrNotExist):
			return usageErrorf("%s %s: does not exist; give the folder that holds the MNIST files, or leave %s out to check the cache", dirFlag(), dir, dirFlag())
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ELOOP):
			if _, why := fileutil.BrokenLink(dir); why != "" {
				// Not "does not exist yet": fetch refuses the link too.
				return fmt.Errorf("the MNIST cache %s cannot be reached: %s, then run %s", dir, why, shell.Command("data fetch"))
			}
			return fmt.Errorf("the MNIST cache %s does not exist yet: run %s to fill it (train, eval and tune also fill it at their first run)", dir, shell.Command("data fetch"))
		case err == nil:
			return loader.CacheIsFileError(dir)
		}
		return err
	}
	out := c.App.Writer
	bad, others, unreadable := 0, 0, 0
	var inTheWay []string // not files (a folder): fetch leaves them as they are
	raws := loader.VerifyRaw(dir)
	for i, st := range loader.Verify(dir) {
		raw := raws[i]
		// As the cache decides (loader's CopyState): a damaged copy is made
		// again; anything else there, perhaps a file of the user's, is
		// left as it is.
		switch {
		case st.OK:
			fmt.Fprintf(out, "ok    %s\n", st.Path)
			switch raw.Copy {
			case loader.CopyGood:
				fmt.Fprintf(out, "ok    %s (uncompressed copy)\n", raw.Path)
			case loader.CopyDamaged:
				fmt.Fprintf(out, "stale %s: %v; the .gz file is read in its place (from the cache, a command makes the copy again)\n", raw.Path, raw.Err)
			case loader.CopyOther:
				why := "not MNIST's contents"
				switch {
				case errors.Is(raw.Err, fs.ErrNotExist):
					why = "a link to nothing"
				case raw.Err != nil:
					why = raw.Err.Error()
				}
				fmt.Fprintf(out, "other %s: %s; left as it is, the .gz file read in its place (in the cache, removing it lets a command make the uncompressed copy)\n", raw.Path, why)
			}
		case errors.Is(st.Err, fs.ErrNotExist) && raw.Copy != loader.CopyMissing:
			if raw.OK {
				fmt.Fprintf(out, "ok    %s (uncompressed)\n", raw.Path)
				continue
			}
			bad++
			if raw.Other {
				others++
			}
			fmt.Fprintf(out, "BAD   %s: %v\n", raw.Path, raw.Err)
		default:
			bad++
			// A symbolic link in a .gz file's place is replaced by a
			// fetch, whatever it leads to: nothing to move or make
			// readable first.
			if st.Other && !st.Link {
				others++
			}
			if errors.Is(st.Err, fs.ErrPermission) && !st.Link {
				unreadable++
			}
			if fi, err := os.Stat(st.Path); err == nil && !fi.Mode().IsRegular() && !st.Link {
				inTheWay = append(inTheWay, st.Path)
			}
			fmt.Fprintf(out, "BAD   %s: %v\n", st.Path, st.Err)
		}
	}
	if unreadable > 0 {
		// Fetching again would not help: the files are there, and the
		// fetch leaves a file it cannot read as it is.
		return fmt.Errorf("%d of %d files failed verification, %d of them because this user cannot read them: make them readable (their owner can: %s), or use a cache of your own (XDG_CACHE_HOME=DIR, or %s)", bad, len(loader.Files), unreadable, shell.MakeReadable("FILE"), shell.Command("data fetch --dir DIR"))
	}
	if others > 0 {
		return fmt.Errorf("%d of %d files failed verification, %d of them well-formed IDX files of another dataset, which data fetch does not replace: fetch MNIST into another folder (%s), or move them away first; train and eval read another dataset as it is with --data", bad, len(loader.Files), others, shell.Command("data fetch --dir DIR"))
	}
	if bad > 0 {
		fix := self() + " data fetch"
		if c.IsSet("dir") {
			fix += " --dir " + shell.Path(dir)
		}
		if len(inTheWay) > 0 {
			return fmt.Errorf("%d of %d files failed verification; move away what is in the way (%s: not a file), then fetch them again with: %s", bad, len(loader.Files), strings.Join(inTheWay, ", "), fix)
		}
		return fmt.Errorf("%d of %d files failed verification; to fetch them again, run: %s", bad, len(loader.Files), fix)
	}
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
