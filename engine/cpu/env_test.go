// Tests of CNNGPU_NOASM's and CNNGPU_NOAVX512's reading.
package cpu

import (
	"strings"
	"testing"
)

func TestOffSwitches(t *testing.T) {
	for name, read := range map[string]func() (bool, error){"CNNGPU_NOASM": noAsm, "CNNGPU_NOAVX512": noAVX512} {
		for v, want := range map[string]bool{"": false, "0": false, "false": false, "1": true, "true": true, "TRUE": true} {
			t.Setenv(name, v)
			if got, err := read(); err != nil || got != want {
				t.Errorf("%s=%q: %v, %v; want %v", name, v, got, err, want)
			}
		}
		t.Setenv(name, "yes please")
		if off, err := read(); err == nil || CheckEnv() == nil || !off {
			t.Errorf("%s=\"yes please\": off %v, error %v; want an error, and the kernels off where nothing refuses it", name, off, err)
		} else if strings.Contains(err.Error(), "the default; the default") {
			t.Errorf("%s=\"yes please\": %v; want the default named once, with what it means", name, err)
		}
		t.Setenv(name, "")
	}
}
