// envflag_test.go: every spelling of on and off, the default, and the
// error for anything else.
package envflag

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		v      string
		def    bool
		on, ok bool
	}{
		{"", false, false, true}, {"", true, true, true}, {"  ", true, true, true},
		{"1", false, true, true}, {"true", false, true, true}, {"TRUE", false, true, true}, {"Yes", false, true, true}, {"on", false, true, true}, {" 1 ", false, true, true},
		{"0", true, false, true}, {"false", true, false, true}, {"False", true, false, true}, {"no", true, false, true}, {"OFF", true, false, true},
		{"2", false, false, false}, {"2", true, true, false}, {"t", false, false, false}, {"enable", true, true, false}, {"-1", false, false, false}, {"1 0", false, false, false},
	} {
		on, ok := Parse(c.v, c.def)
		if on != c.on || ok != c.ok {
			t.Errorf("Parse(%q, %v) = %v, %v; want %v, %v", c.v, c.def, on, ok, c.on, c.ok)
		}
	}
}

func TestBool(t *testing.T) {
	const name = "CNNGPU_ENVFLAG_TEST"
	t.Setenv(name, "yes")
	if on, err := Bool(name, false, "do it", "don't"); !on || err != nil {
		t.Fatalf("yes: %v, %v", on, err)
	}
	t.Setenv(name, "")
	if on, err := Bool(name, true, "do it", "don't"); !on || err != nil {
		t.Fatalf("unset with default on: %v, %v", on, err)
	}
	t.Setenv(name, "maybe")
	on, err := Bool(name, true, "do it", "don't")
	if err == nil || !on {
		t.Fatalf("maybe: %v, %v; want the default and an error", on, err)
	}
	for _, want := range []string{`CNNGPU_ENVFLAG_TEST="maybe"`, "do it; the default", "(don't)", "hint:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if On(name) {
		t.Error(`On reads "maybe" as on`)
	}
	t.Setenv(name, "On")
	if !On(name) {
		t.Error(`On reads "On" as off`)
	}
}
