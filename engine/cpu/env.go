// env.go: the CPU engine's environment variables, CNNGPU_NOASM and
// CNNGPU_NOAVX512, read once at start-up and checked by the command line
// before an engine is made.

package cpu

import "github.com/cnngpu/cnngpu/internal/envflag"

// noAsm reads CNNGPU_NOASM: 1 (or true, yes, on) makes the engine use its portable
// Go kernels instead of the AVX2/FMA, AVX-512 and NEON assembly; unset, 0 or
// false leaves the assembly where the processor has it. Any other value
// is an error (the command line refuses it, CheckEnv) and turns the
// assembly off where nothing refuses it (a test binary, a program using
// this package): whoever set the variable asked for something other than
// the default, and the portable kernels compute the same, only slower.
func noAsm() (bool, error) {
	return offSwitch("CNNGPU_NOASM", "the portable Go kernels instead of the AVX2/FMA, AVX-512 and NEON assembly", "the assembly where the processor has it")
}

// noAVX512 reads CNNGPU_NOAVX512: 1 (or true) keeps the engine on its
// AVX2/FMA micro-kernel where the processor also has AVX-512 (for
// comparing the two, or on a processor whose AVX-512 runs slower); the
// bits computed are the same. Values as for CNNGPU_NOASM.
func noAVX512() (bool, error) {
	return offSwitch("CNNGPU_NOAVX512", "the AVX2/FMA micro-kernel where the processor also has AVX-512", "the AVX-512 micro-kernel where the processor has it")
}

// offSwitch reads a variable that turns something off (internal/envflag:
// 1, true, yes or on in any case is on, meaning what; unset, 0, false, no
// or off off, meaning otherwise, the default); any other value is an
// error, and reads as on.
func offSwitch(name, what, otherwise string) (bool, error) {
	on, err := envflag.Bool(name, false, what, otherwise)
	if err != nil {
		return true, err
	}
	return on, nil
}

// CheckEnv reports a CNNGPU_NOASM or CNNGPU_NOAVX512 that is neither on
// nor off.
func CheckEnv() error {
	if _, err := noAsm(); err != nil {
		return err
	}
	_, err := noAVX512()
	return err
}
