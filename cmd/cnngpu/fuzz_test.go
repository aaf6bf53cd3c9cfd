// fuzz_test.go: fuzzing the flag values cnngpu parses itself (--seeds,
// the lists of --lr and --batch-size, the command line's reordering and
// checks before urfave/cli): no panic, and what is accepted is what was
// written.

package main

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func FuzzParseSeeds(f *testing.F) {
	for _, s := range []string{"1-10", "1,4,7-9", "0", "18446744073709551615", "18446744073709550616-18446744073709551615", "5,5", "010", " 3 , 4-6 ", "1-", "-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seeds, err := parseSeeds(s)
		if err != nil {
			if !strings.Contains(err.Error(), "--seeds") {
				t.Errorf("error does not name --seeds: %v", err)
			}
			return
		}
		if len(seeds) == 0 || len(seeds) > maxSeeds {
			t.Fatalf("%q: %d seeds", s, len(seeds))
		}
		u := slices.Clone(seeds)
		slices.Sort(u)
		if len(slices.Compact(u)) != len(seeds) {
			t.Fatalf("%q: repeated seeds accepted: %v", s, seeds)
		}
		// What seedRanges writes (the summary's line) reads back the same.
		back, err := parseSeeds(seedRanges(seeds))
		if err != nil || !slices.Equal(back, seeds) {
			t.Fatalf("%q: %v written as %q reads back %v, %v", s, seeds, seedRanges(seeds), back, err)
		}
	})
}

func FuzzParseLists(f *testing.F) {
	for _, s := range []string{"0.001,0.003", "1e-3", "0x1p-3", "1_0", "1e-400", "64, 128", "064", "+3", "inf", "nan", ",", "1,,2", " "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if lrs, err := parseList("lr", s, parseDecimal); err == nil {
			items := strings.Split(s, ",")
			for i, lr := range lrs {
				if _, err := checkLR(lr); err == nil {
					if f := float64(float32(lr)); !(f > 0) || math.IsInf(f, 0) {
						t.Fatalf("--lr %q: %v accepted", s, lr)
					}
				}
				if mant, _, _ := strings.Cut(strings.ToLower(items[i]), "e"); lr == 0 && strings.ContainsAny(mant, "123456789") {
					t.Errorf("--lr %q: %q read as 0", s, items[i])
				}
			}
		} else if !strings.Contains(err.Error(), "--lr") {
			t.Errorf("error does not name --lr: %v", err)
		}
		if bss, err := parseList("batch-size", s, strconv.Atoi); err == nil && len(bss) == 0 {
			t.Fatalf("--batch-size %q: an empty list accepted", s)
		}
	})
}

func FuzzArgs(f *testing.F) {
	for _, s := range []string{
		"train\x00--cpu\x00--epochs\x001\x00--lr\x000.01",
		"train\x00--lr=0.01\x00--lr\x001e-2",
		"train\x00--out\x00--cpu",
		"tune\x00merge\x00a\x00b\x00--out\x00c",
		"help\x00tune\x00merge",
		"eval\x00m.safetensors\x00--help",
		"train\x00--batch-size\x00064",
		"train\x00--seed=010\x00--",
		"predict\x00--model\x00m\x00--\x00-x.png",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := append([]string{"cnngpu"}, strings.Split(s, "\x00")...)
		out, err := prepareArgs(newApp(), slices.Clone(args))
		if err != nil || slices.Contains(out, "--help") || slices.Contains(args, "help") || slices.Contains(args, "h") {
			return
		}
		// Reordered, not changed: the same words.
		a, b := slices.Clone(args), slices.Clone(out)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) && !slices.Contains(out, "--") {
			t.Fatalf("%q became %q", args, out)
		}
	})
}
