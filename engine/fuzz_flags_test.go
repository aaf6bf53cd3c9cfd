// fuzz_flags_test.go: fuzzing the flag values the engine parses
// (--augment, --schedule, --recipe): what is accepted is valid and
// written back (AugmentName, String) reads the same.

package engine

import (
	"strings"
	"testing"
)

func FuzzParseAugment(f *testing.F) {
	for _, s := range []string{"none", "shift", "shift:2,rotate:10,scale:0.1", " shift:3 , scale:.25", "rotate:45", "rotate:-10", "scale:1e-9", "shift:+2", "rotate:0.0000000000000000000000000000000000000000000001", "shift,shift", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAugment(s)
		if err != nil {
			if !strings.Contains(err.Error(), "augment") {
				t.Errorf("error does not say it is the augmentation: %v", err)
			}
			return
		}
		if err := a.Check(); err != nil {
			t.Fatalf("%q accepted as %+v, which Check refuses: %v", s, a, err)
		}
		back, err := ParseAugment(AugmentName(a))
		if err != nil || back != a {
			t.Fatalf("%q = %+v written as %q reads back %+v, %v", s, a, AugmentName(a), back, err)
		}
		if LaterSettings(0, a) != (a.Rotate != 0 || a.Scale != 0) {
			t.Fatalf("LaterSettings disagrees for %+v", a)
		}
	})
}

func FuzzParseNames(f *testing.F) {
	for _, s := range []string{"constant", "cosine", "default", "reference", "Cosine", " cosine", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParseSchedule(s); err == nil {
			if k.String() != s {
				t.Fatalf("schedule %q read as %v", s, k)
			}
			var k2 ScheduleKind
			if b, _ := k.MarshalText(); k2.UnmarshalText(b) != nil || k2 != k {
				t.Fatalf("schedule %v does not round-trip", k)
			}
		}
		if r, err := ParseRecipe(s); err == nil && r.Name != s {
			t.Fatalf("recipe %q read as %q", s, r.Name)
		}
		if _, err := NewArch(s, ReLU); err == nil && !strings.Contains(strings.Join(Presets, ","), s) {
			t.Fatalf("arch %q accepted", s)
		}
	})
}
