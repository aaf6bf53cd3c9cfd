// splits_test.go: the study's rounds (splits): each fold's training
// indices made when asked, the same as made all at once, and memory that
// does not grow with K times N.

package tune

import (
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/loader"
)

// classLabels returns n labels cycling through the ten classes.
func classLabels(n int) []uint8 {
	l := make([]uint8, n)
	for i := range l {
		l[i] = uint8((i * 7) % 10)
	}
	return l
}

func TestSplitsAsAllAtOnce(t *testing.T) {
	labels := classLabels(1000)
	for _, limit := range []int{0, 300, 5000} {
		spec := &Spec{Folds: 7, TrainLimit: limit, Seed: 3}
		s, err := newSplits(spec, labels)
		if err != nil {
			t.Fatal(err)
		}
		folds, err := loader.KFold(labels, 7, SplitSeed)
		if err != nil {
			t.Fatal(err)
		}
		for k := range folds {
			want := loader.FoldTrain(folds, k)
			if limit > 0 {
				want = loader.Subset(labels, want, limit, spec.Seed)
			}
			got := s.round(k)
			if !slices.Equal(got[0], want) || !slices.Equal(got[1], folds[k]) {
				t.Errorf("limit %d, fold %d: round differs from the folds made all at once", limit, k)
			}
			if s.trainLen(k) != len(got[0]) {
				t.Errorf("limit %d, fold %d: trainLen %d, the round trains on %d", limit, k, s.trainLen(k), len(got[0]))
			}
		}
	}
	spec := &Spec{ValSplit: 0.25, TrainLimit: 100, Seed: 3}
	s, err := newSplits(spec, labels)
	if err != nil {
		t.Fatal(err)
	}
	tr, va, err := loader.Holdout(labels, 0.25, SplitSeed)
	if err != nil {
		t.Fatal(err)
	}
	got := s.round(0)
	if want := loader.Subset(labels, tr, 100, 3); !slices.Equal(got[0], want) || !slices.Equal(got[1], va) || s.trainLen(0) != 100 {
		t.Errorf("hold-out: round or trainLen (%d) differs from the split made directly", s.trainLen(0))
	}
}

// TestSplitsManyFolds: --folds 60000 over 60,000 images takes a few MB
// to set up, not the 14 GB of every fold's training set at once.
func TestSplitsManyFolds(t *testing.T) {
	labels := classLabels(60000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := newSplits(&Spec{Folds: 60000}, labels)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 32<<20 {
		t.Errorf("setting up 60000 folds allocated %d MB, expected under 32 MB", got>>20)
	}
	r := s.round(59999)
	if len(r[1]) != 1 || len(r[0]) != 59999 || s.trainLen(59999) != 59999 || slices.Contains(r[0], r[1][0]) {
		t.Errorf("fold 60000 of 60000: %d training and %d validation images (trainLen %d), expected 59999 and 1, apart", len(r[0]), len(r[1]), s.trainLen(59999))
	}
}

// TestSplitsRefuseAMissingDigit: a round whose training set lacks a digit
// (its few images all held out, in one fold, or left out of
// --train-limit's subset) is refused, naming what made the set and what
// to change, as train refuses it; not trained on nine digits.
func TestSplitsRefuseAMissingDigit(t *testing.T) {
	labels := classLabels(90) // 9 of each digit but the 9s
	labels = slices.DeleteFunc(labels, func(l uint8) bool { return l == 9 })
	labels = append(labels, 9) // one 9
	cases := []struct {
		spec Spec
		want string
	}{
		{Spec{ValSplit: 0.5}, "the training set (36 images after --val-split) has no image of the digit 9, and cannot train a 10-class model; lower --val-split"},
		{Spec{ValSplit: 0.1, TrainLimit: 12}, "the training set (12 images after --train-limit) has no image of the digit 9, and cannot train a 10-class model; raise --train-limit"},
		{Spec{ValSplit: 0.5, TrainLimit: 12}, "the training set (12 images after --val-split) has no image of the digit 9, and cannot train a 10-class model; lower --val-split"},
		{Spec{Folds: 3}, "--folds 3: the training set has 1 image of the digit 9, so round 1, which holds it out, cannot train a 10-class model; K-fold needs at least 2 images of each digit"},
	}
	for _, c := range cases {
		_, err := newSplits(&c.spec, labels)
		if be := (*BlockedError)(nil); !errors.As(err, &be) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want a BlockedError saying %q", c.spec, err, c.want)
		}
	}
	// Every fold of the 9 kept, but --train-limit's subset drops it:
	// found before any run trains (it was found as its round began).
	labels = append(labels, 9, 9, 9)
	want := "round 1's training set (12 images after --train-limit) has no image of the digit 9, and cannot train a 10-class model; raise --train-limit"
	if _, err := newSplits(&Spec{Folds: 3, TrainLimit: 12, Seed: 1}, labels); err == nil || err.Error() != want {
		t.Errorf("fold round with --train-limit: %v; want %q", err, want)
	}
	if _, err := newSplits(&Spec{ValSplit: 0.1}, classLabels(100)); err != nil {
		t.Errorf("every digit kept: %v", err)
	}
}
