//go:build !amd64 && !arm64

// asm_other.go: the assembly that amd64 and arm64 both have (useAsmCore)
// does not exist on other processors.

package cpu

// pool2Asm, packT16Asm and packT6Asm are never called here: useAsmCore
// stays false.
func pool2Asm(top, bot, y *float32, arg *int32, base, w int32, n int) {
	panic("cpu: pool2Asm without assembly")
}

func packT16Asm(panel, d []float32, off, cs, n int) { panic("cpu: packT16Asm without assembly") }

func packT6Asm(panel, d []float32, off, rs, n int) { panic("cpu: packT6Asm without assembly") }
