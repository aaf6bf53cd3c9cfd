//go:build !linux

// space_other.go: where the free space and the file-size limit are not
// read, checkSpace refuses nothing.

package main

func freeSpace(dir string) (free, dev uint64, ok bool) { return 0, 0, false }

func fileLimit() (limit, hard uint64, ok bool) { return 0, 0, false }
