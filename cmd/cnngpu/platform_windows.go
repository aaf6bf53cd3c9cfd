//go:build windows

// platform_windows.go: what the command line asks of Windows: a read-only
// file is told by its permission bits alone, the progress bar's width is
// the console window's, its escapes are drawn only where the console
// takes them, and image names with wildcards are expanded here, as the
// shells of Windows leave that to the program.

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
)

func onReadOnlyFS(path string) bool { return false }

// terminalWidth is the width in columns of the console window f writes to,
// where f is one.
func terminalWidth(f *os.File) (int, bool) {
	var info windows.ConsoleScreenBufferInfo
	if err := windows.GetConsoleScreenBufferInfo(windows.Handle(f.Fd()), &info); err != nil {
		return 0, false
	}
	return int(info.Window.Right-info.Window.Left) + 1, true
}

// terminalReady turns on the console's processing of escape sequences
// (which the progress bar draws with), and reports whether it took it: a
// console that cannot (before Windows 10) gets plain lines.
func terminalReady(f *os.File) bool {
	h := windows.Handle(f.Fd())
	var mode uint32
	if err := windows.GetConsoleMode(h, &mode); err != nil {
		return true // a character device that is no console (NUL, a serial port): nothing drawn is seen
	}
	return mode&windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0 || windows.SetConsoleMode(h, mode|windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING) == nil
}

// expandNames expands each name with a wildcard (* ? [) that names no file
// itself into the files it matches, in order; one that matches none is
// kept, for unmatched to name it.
func expandNames(names []string) []string {
	var out []string
	for _, n := range names {
		if pattern(n) {
			if m, err := filepath.Glob(n); err == nil && len(m) > 0 {
				out = append(out, m...)
				continue
			}
		}
		out = append(out, n)
	}
	return out
}

// unmatched is the error of a name with a wildcard that matched no file
// (expandNames kept it), nil for any other name.
func unmatched(name string) error {
	if pattern(name) {
		return errors.New("no file matches this pattern")
	}
	return nil
}

// pattern tells whether name has a wildcard (* ? [) and names no file
// itself.
func pattern(name string) bool {
	if !strings.ContainsAny(name, "*?[") {
		return false
	}
	_, err := os.Lstat(name)
	return err != nil
}
