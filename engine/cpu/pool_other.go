//go:build !amd64 && !arm64

// pool_other.go: max-pooling has no assembly on processors other than
// amd64 and arm64.

package cpu

// pool2Asm is never called here: useAsmPool stays false.
func pool2Asm(top, bot, y *float32, arg *int32, base, w int32, n int) {
	panic("cpu: pool2Asm without assembly")
}
