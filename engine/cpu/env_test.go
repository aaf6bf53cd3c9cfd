// Tests of CNNGPU_NOASM's reading.
package cpu

import "testing"

func TestNoAsm(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "false": false, "1": true, "true": true, "TRUE": true} {
		t.Setenv("CNNGPU_NOASM", v)
		if got, err := noAsm(); err != nil || got != want {
			t.Errorf("CNNGPU_NOASM=%q: %v, %v; want %v", v, got, err, want)
		}
	}
	t.Setenv("CNNGPU_NOASM", "yes please")
	if off, err := noAsm(); err == nil || CheckEnv() == nil || !off {
		t.Errorf("CNNGPU_NOASM=\"yes please\": off %v, error %v; want an error, and the assembly off where nothing refuses it", off, err)
	}
}
