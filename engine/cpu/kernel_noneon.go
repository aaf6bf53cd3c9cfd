//go:build !arm64

// kernel_noneon.go: the NEON micro-kernel exists on arm64 alone.

package cpu

const haveNEON = false
