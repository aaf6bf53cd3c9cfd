//go:build !unix && !windows

// platform_other.go: on systems other than Unix and Windows a read-only
// file is told by its permission bits alone, and the progress bar keeps to
// 80 columns.

package main

import "os"

func onReadOnlyFS(path string) bool { return false }

func terminalWidth(f *os.File) (int, bool) { return 0, false }

func terminalReady(f *os.File) bool { return true }

// expandNames: the shell has expanded the names' wildcards.
func expandNames(names []string) []string { return names }

// unmatched: a name the shell left with its wildcard is a name like any
// other (its file missing is said as such).
func unmatched(string) error { return nil }
