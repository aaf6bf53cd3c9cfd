//go:build !amd64

// kernel_other.go: on processors other than amd64 only the portable Go
// micro-kernel exists.

package cpu

const haveAVX2 = false
