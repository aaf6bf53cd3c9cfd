//go:build !windows

// platform_shells.go: where the shell expands a command line's wildcards
// and the terminal takes the progress bar's escapes as they are (every
// system but Windows: platform_windows.go).

package main

import "os"

// terminalReady: the terminal takes the progress bar's escapes.
func terminalReady(f *os.File) bool { return true }

// expandNames: the shell has expanded the names' wildcards.
func expandNames(names []string) []string { return names }

// unmatched: a name the shell left with its wildcard is a name like any
// other (its file missing is said as such).
func unmatched(string) error { return nil }
