//go:build cgo

// fake_test.go: the cuDNN binding against a fake driver and cuDNN
// (internal/fakecuda), in a child process each: a failure walked over
// every call of making a handle and a convolution and running it must come
// back as an error naming the call and leave nothing alive; a direction is
// searched (cudnnFind) when it is first prepared, and only then; and each
// algorithm runs in the math type cuDNN timed it in.

package cudnn

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/internal/fakecuda"
	"github.com/cnngpu/cnngpu/kernels"
)

func TestMain(m *testing.M) {
	if s := fakecuda.Scenario(); s != "" {
		os.Exit(fakeScenario(s))
	}
	code := m.Run()
	fakecuda.Cleanup()
	os.Exit(code)
}

// fakeScenario runs scenario s in this child process: "conv" (every
// direction, strict FP32), "tf32" (the same with tensor cores allowed) or
// "forward" (inference: the forward direction only). It prints the first
// error as "error: …".
func fakeScenario(s string) int {
	c, err := cuda.Open(0, kernels.Fatbin, kernels.PTX, nil)
	if err != nil {
		fmt.Println("error:", err)
		return 0
	}
	defer func() {
		if err := c.Close(); err != nil {
			fmt.Println("close:", err)
		}
	}()
	math, dirs := MathFMA, []int{DirForward, DirData, DirFilter}
	switch s {
	case "tf32":
		math = MathDefault
	case "forward":
		dirs = dirs[:1]
	}
	err = c.Do(func() error {
		h, err := New(c.Stream())
		if err != nil {
			return err
		}
		defer h.Close()
		cv, err := h.NewConv(4, 8, 14, 14, 16, 3, 3, 1, math)
		if err != nil {
			return err
		}
		defer cv.Close()
		if cv.Prepared(DirForward) {
			return fmt.Errorf("a direction prepared before Prepare")
		}
		for _, d := range dirs {
			if err := cv.Prepare(d); err != nil {
				return err
			}
			if err := cv.Prepare(d); err != nil { // once: no second search
				return err
			}
			var err error
			switch d {
			case DirForward:
				err = cv.Forward(1, 2, 3, 4, cv.Workspace(d))
			case DirData:
				err = cv.BackwardData(1, 2, 3, 4, cv.Workspace(d))
			default:
				err = cv.BackwardFilter(1, 2, 3, 4, cv.Workspace(d))
			}
			if err != nil {
				return err
			}
			for _, a := range cv.Alternatives(d) {
				if err := cv.Use(d, a); err != nil {
					return err
				}
				if d == DirForward {
					if err := cv.Forward(1, 2, 3, 4, cv.Workspace(d)); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		fmt.Println("error:", err)
	}
	return 0
}

// TestFakeConvReleasesEverything walks a failure over every call of the
// "conv" scenario (a context, a cuDNN handle, a convolution prepared and
// run in each direction).
func TestFakeConvReleasesEverything(t *testing.T) {
	clean := fakecuda.Run(t, "conv", "")
	if clean.Err != nil || strings.Contains(clean.Output, "error:") || strings.Contains(clean.Output, "close:") {
		t.Fatalf("without a failure: %v\n%s", clean.Err, clean.Output)
	}
	if l := clean.Leaks(); len(l) > 0 || len(clean.Violations) > 0 {
		t.Errorf("without a failure: left alive %v, misuse %q", l, clean.Violations)
	}
	// Find runs warmRounds+findRounds times a direction, once.
	if want := warmRounds + findRounds; clean.Finds != [3]int{want, want, want} {
		t.Errorf("cudnnFind calls by direction %v, want %d each", clean.Finds, want)
	}
	// From the first cuDNN call on: the context's own calls are walked
	// by package cuda's test.
	first := fakecuda.Run(t, "conv", "cudnnCreate:1").FailedAt
	for i := first; i <= clean.Calls; i++ {
		r := fakecuda.Run(t, "conv", strconv.Itoa(i))
		what := fmt.Sprintf("failure of call %d (%s)", i, r.Failed)
		if r.Err != nil {
			t.Errorf("%s: the child failed (%v):\n%s", what, r.Err, r.Output)
			continue
		}
		msg, ok := r.Line("error: ")
		if !ok {
			msg, ok = r.Line("close: ")
		}
		if !ok {
			t.Errorf("%s: no error came back:\n%s", what, r.Output)
		} else if !strings.Contains(msg, r.Failed) {
			t.Errorf("%s: the error does not name the failing call: %s", what, msg)
		}
		if l := r.Leaks(); len(l) > 0 {
			t.Errorf("%s (%s): left alive %v", what, msg, l)
		}
		if len(r.Violations) > 0 {
			t.Errorf("%s (%s): misuse %q", what, msg, r.Violations)
		}
	}
	t.Logf("%d failure points walked", clean.Calls-first+1)
}

// TestFakeInferenceSearchesForwardOnly: preparing the forward direction
// searches it alone.
func TestFakeInferenceSearchesForwardOnly(t *testing.T) {
	r := fakecuda.Run(t, "forward", "")
	if msg, ok := r.Line("error: "); ok {
		t.Fatal(msg)
	}
	if want := [3]int{warmRounds + findRounds, 0, 0}; r.Finds != want {
		t.Errorf("cudnnFind calls by direction %v, want %v", r.Finds, want)
	}
}

// TestFakeMathTypeHonoured: with tensor cores allowed, the fake's Find
// times the fastest algorithm in CUDNN_TENSOR_OP_MATH; the convolution
// must then run in that math type (and the alternatives in theirs).
func TestFakeMathTypeHonoured(t *testing.T) {
	r := fakecuda.Run(t, "tf32", "")
	if msg, ok := r.Line("error: "); ok {
		t.Fatal(msg)
	}
	if len(r.Violations) > 0 {
		t.Errorf("misuse: %q", r.Violations)
	}
}
