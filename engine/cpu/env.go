// env.go: the CPU engine's environment variable, CNNGPU_NOASM, read once
// at start-up and checked by the command line before an engine is made.

package cpu

import (
	"fmt"
	"os"
	"strings"
)

// noAsm reads CNNGPU_NOASM: 1 (or true) makes the engine use its portable
// Go kernels instead of the AVX2/FMA assembly; unset, 0 or false leaves
// the assembly where the processor has it. Any other value is an error
// (the command line refuses it, CheckEnv) and turns the assembly off
// where nothing refuses it (a test binary, a program using this
// package): whoever set the variable asked for something other than the
// default, and the portable kernels compute the same, only slower.
func noAsm() (bool, error) {
	v := os.Getenv("CNNGPU_NOASM")
	if v == "" {
		return false, nil
	}
	var off bool
	switch strings.ToLower(v) {
	case "1", "true":
		off = true
	case "0", "false":
	default:
		return true, fmt.Errorf("CNNGPU_NOASM=%q: expected 1 or true (the portable Go kernels instead of the AVX2/FMA assembly), or 0 or false (the default)", v)
	}
	return off, nil
}

// CheckEnv reports a CNNGPU_NOASM that is neither on nor off.
func CheckEnv() error {
	_, err := noAsm()
	return err
}
