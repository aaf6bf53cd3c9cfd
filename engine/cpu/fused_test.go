//go:build !amd64.v3

// fused_test.go: on a default build (below GOAMD64=v3) Go computes x*y+z
// with two roundings, as the assembly does, so the two agree bit for bit.

package cpu

const goFusesMulAdd = false
