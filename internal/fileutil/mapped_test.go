//go:build unix

// mapped_test.go: UseFile hands over a file's bytes (mapped), refuses what
// ReadFile refuses, reads what cannot be mapped, and turns a file cut
// short while mapped into an error instead of a crash.

package fileutil

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestUseFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	want := bytes.Repeat([]byte("cnngpu "), 100000)
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := UseFile(p, 1<<20, func(b []byte) error { got = bytes.Clone(b); return nil }); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("UseFile: %v, %d bytes back of %d", err, len(got), len(want))
	}
	var tl *TooLargeError
	if err := UseFile(p, 1000, func([]byte) error { t.Error("used a file over the bound"); return nil }); !errors.As(err, &tl) {
		t.Errorf("a file over the bound: %v, want a TooLargeError", err)
	}
	if err := UseFile(dir, 1<<20, func([]byte) error { t.Error("used a folder"); return nil }); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a folder: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	if err := UseFile(empty, 1<<20, func(b []byte) error {
		if len(b) != 0 {
			t.Errorf("an empty file: %d bytes", len(b))
		}
		return nil
	}); err != nil {
		t.Errorf("an empty file: %v", err)
	}
	sentinel := errors.New("from use")
	if err := UseFile(p, 1<<20, func([]byte) error { return sentinel }); err != sentinel {
		t.Errorf("use's error: %v", err)
	}
	// Cut short while mapped: reading past the new end faults.
	err := UseFile(p, 1<<20, func(b []byte) error {
		if err := os.Truncate(p, 0); err != nil {
			t.Fatal(err)
		}
		var sum byte
		for _, v := range b {
			sum += v
		}
		t.Errorf("read %d bytes of a file cut short (sum %d), want a fault", len(b), sum)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "cut short while it was read") || !strings.Contains(err.Error(), p) {
		t.Errorf("a file cut short while mapped: %v", err)
	}
}

// TestUseFileNamedPipe: a named pipe is read from its writer, as ReadFile
// reads it, not opened and mapped.
func TestUseFileNamedPipe(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err == nil {
			w.Write([]byte("through a pipe"))
			w.Close()
		}
	}()
	var got string
	if err := UseFile(p, 1<<20, func(b []byte) error { got = string(b); return nil }); err != nil || got != "through a pipe" {
		t.Errorf("a named pipe: %q, %v", got, err)
	}
}
