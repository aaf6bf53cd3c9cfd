//go:build amd64.v3

// fused_v3_test.go: with GOAMD64=v3 Go may fuse x*y+z into one rounding,
// so the portable code can be one unit in the last place from the
// assembly.

package cpu

const goFusesMulAdd = true
