// split.go: deterministic, label-stratified splits of a dataset: hold-out
// (the reference study used 33% with seed 42), k folds, and subsets.

package loader

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/cnngpu/cnngpu/internal/shown"
)

// byClass returns the indices of each label, each list shuffled by seed.
func byClass(labels []uint8, seed uint64) [][]int32 {
	classes := 0
	for _, l := range labels {
		classes = max(classes, int(l)+1)
	}
	out := make([][]int32, classes)
	for i, l := range labels {
		out[l] = append(out[l], int32(i))
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	for _, c := range out {
		r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	}
	return out
}

// Holdout splits indices 0..len(labels)-1 into train and validation sets,
// putting round(frac·count) of every label into validation. Both results
// are sorted.
func Holdout(labels []uint8, frac float64, seed uint64) (train, val []int32, err error) {
	if !(frac > 0 && frac < 1) {
		return nil, nil, fmt.Errorf("validation fraction %v: expected a number between 0 and 1 (exclusive)", frac)
	}
	for _, c := range byClass(labels, seed) {
		k := int(frac*float64(len(c)) + 0.5)
		val = append(val, c[:k]...)
		train = append(train, c[k:]...)
	}
	slices.Sort(train)
	slices.Sort(val)
	if len(train) == 0 || len(val) == 0 {
		// Each digit's share is rounded: below 0.5/n (n the largest
		// digit's count) every share rounds to none; from 1-0.5/m on (m
		// the smallest digit's count) some digit's share is all of it,
		// which leaves the training set without that digit.
		most, least := 0, len(labels)
		for _, c := range byClass(labels, seed) {
			most, least = max(most, len(c)), min(least, len(c))
		}
		if most < 2 {
			// No fraction works: each share rounds to none or to all.
			return nil, nil, fmt.Errorf("validation fraction %v: the %d examples hold at most one of each class, so any hold-out leaves the training set without that class: give data with more examples of each", frac, len(labels))
		}
		if len(val) == 0 {
			return nil, nil, fmt.Errorf("validation fraction %v of %d examples leaves the validation set empty (each digit's share is rounded, here to none): expected at least %s",
				frac, len(labels), strconv.FormatFloat(roundSig(0.5/float64(most), 3, true), 'g', -1, 64))
		}
		return nil, nil, fmt.Errorf("validation fraction %v of %d examples leaves the training set empty (each digit's share is rounded, here to all of it): expected below %s, where every digit keeps a training image",
			frac, len(labels), strconv.FormatFloat(roundSig(1-0.5/float64(least), 6, false), 'g', -1, 64))
	}
	return train, val, nil
}

// roundSig rounds v > 0 to d significant digits, up or down, for a bound
// that stays on its side; v's digits are nudged by a part in 1e12 the
// same way first, so that a v whose digits end there (0.995) is not taken
// for the float just short of it.
func roundSig(v float64, d int, up bool) float64 {
	scale := math.Pow(10, float64(d-1)-math.Floor(math.Log10(v)))
	if up {
		return math.Ceil(v*scale*(1-1e-12)) / scale
	}
	return math.Floor(v*scale*(1+1e-12)) / scale
}

// KFold splits into k folds with each label spread evenly over them; fold i
// is the validation set of round i, the others its training set. Each fold
// is sorted.
func KFold(labels []uint8, k int, seed uint64) ([][]int32, error) {
	if k < 2 || k > len(labels) {
		return nil, fmt.Errorf("%d folds: expected 2 to %d", k, len(labels))
	}
	folds := make([][]int32, k)
	next := 0
	for _, c := range byClass(labels, seed) {
		for _, idx := range c {
			folds[next] = append(folds[next], idx)
			next = (next + 1) % k
		}
	}
	for _, f := range folds {
		slices.Sort(f)
	}
	return folds, nil
}

// FoldTrain returns the union of all folds but i, sorted.
func FoldTrain(folds [][]int32, i int) []int32 {
	var out []int32
	for j, f := range folds {
		if j != i {
			out = append(out, f...)
		}
	}
	slices.Sort(out)
	return out
}

// Subset returns exactly n indices chosen from idx with labels spread as in
// the whole (stratified), sorted. n >= len(idx) returns idx.
func Subset(labels []uint8, idx []int32, n int, seed uint64) []int32 {
	if n >= len(idx) {
		return idx
	}
	sub := make([]uint8, len(idx))
	for i, j := range idx {
		sub[i] = labels[j]
	}
	// Rank every example by its position in its own shuffled class,
	// relative to the class size; the n lowest ranks take each class in
	// proportion.
	type ranked struct {
		key float64
		idx int32
	}
	var all []ranked
	for _, c := range byClass(sub, seed) {
		for r, p := range c {
			all = append(all, ranked{(float64(r) + 0.5) / float64(len(c)), idx[p]})
		}
	}
	slices.SortStableFunc(all, func(a, b ranked) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return int(a.idx - b.idx)
	})
	out := make([]int32, n)
	for i := range out {
		out[i] = all[i].idx
	}
	slices.Sort(out)
	return out
}

// EveryDigit refuses a training set idx (of labels 0-9; what names it)
// that lacks a digit: it cannot train a 10-class model. before is the set
// --train-limit's subset took idx from (nil where none did), split the
// flag whose split made that set ("" for none); the error names the one
// that left the digit out, and what to change of it.
func EveryDigit(labels []uint8, idx, before []int32, what, split string) error {
	var count, had [10]int
	for _, i := range idx {
		count[labels[i]]++
	}
	for _, i := range before {
		had[labels[i]]++
	}
	for d, n := range count {
		if n > 0 {
			continue
		}
		cut, fix := "", "give data with images of every digit"
		switch {
		case before != nil && had[d] > 0:
			cut, fix = " after --train-limit", "raise --train-limit"
		case split != "":
			cut, fix = " after "+split, "lower "+split
		}
		return fmt.Errorf("%s (%s%s) has no image of the digit %d, and cannot train a 10-class model; %s",
			what, shown.Count(len(idx), "image"), cut, d, fix)
	}
	return nil
}

// SubsetMayDrop reports whether Subset of n from a set whose classes have
// counts (a class per entry) may leave out a class that has examples,
// from the counts alone (no index lists): a class's first example ranks
// (0.5)/c, and the examples of the other classes ranked below it are
// counted; ties, which Subset breaks by index, are counted as below. True
// is "check the subset itself"; false is sure.
func SubsetMayDrop(counts []int, n int) bool {
	total := 0
	for _, c := range counts {
		total += c
	}
	if n >= total {
		return false // Subset takes everything
	}
	for d, cd := range counts {
		if cd == 0 {
			continue
		}
		// Examples r of class j rank (r+0.5)/cj, below 0.5/cd where
		// (2r+1)·cd < cj, the same where equal.
		before := 0
		for j, cj := range counts {
			if j == d || cj == 0 {
				continue
			}
			if q := (cj - 1) / cd; q >= 1 {
				before += (q-1)/2 + 1
			}
			if cj%cd == 0 && (cj/cd)%2 == 1 {
				before++ // a tie
			}
		}
		if before >= n {
			return true
		}
	}
	return false
}
