//go:build cgo && !windows

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
	"slices"
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
	if s == "restore" || s == "restore-tf32" {
		return restoreScenario(s == "restore-tf32")
	}
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
			if err := runDir(cv, d); err != nil {
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

// runDir queues direction d of cv on made-up addresses (the fake checks
// the algorithm and its math type, not the memory).
func runDir(cv *Conv, d int) error {
	switch d {
	case DirForward:
		return cv.Forward(1, 2, 3, 4, cv.Workspace(d))
	case DirData:
		return cv.BackwardData(1, 2, 3, 4, cv.Workspace(d))
	}
	return cv.BackwardFilter(1, 2, 3, 4, cv.Workspace(d))
}

// restoreScenario searches every direction of one convolution, adopts
// the result in a second one of the same shape (Restore), runs each
// direction and its alternatives there, and then offers a third ones the
// library refuses: an algorithm it lacks, a workspace it does not want,
// a math type the first did not allow. Each refusal prints "refused N:
// error" and must leave the direction unprepared.
func restoreScenario(tf32 bool) int {
	c, err := cuda.Open(0, kernels.Fatbin, kernels.PTX, nil)
	if err != nil {
		fmt.Println("error:", err)
		return 0
	}
	defer c.Close()
	math := MathFMA
	if tf32 {
		math = MathDefault
	}
	err = c.Do(func() error {
		h, err := New(c.Stream())
		if err != nil {
			return err
		}
		defer h.Close()
		var convs [3]*Conv
		for i := range convs {
			if convs[i], err = h.NewConv(4, 8, 14, 14, 16, 3, 3, 1, math); err != nil {
				return err
			}
			defer convs[i].Close()
		}
		a, b, z := convs[0], convs[1], convs[2]
		for d := range 3 {
			if err := a.Prepare(d); err != nil {
				return err
			}
			if err := b.Restore(d, a.Timings(d), a.Algo(d)); err != nil {
				return err
			}
			if !b.Prepared(d) || b.Algo(d) != a.Algo(d) || b.Workspace(d) != a.Workspace(d) {
				return fmt.Errorf("direction %d restored: algorithm %d, workspace %d; searched: %d, %d", d, b.Algo(d), b.Workspace(d), a.Algo(d), a.Workspace(d))
			}
			for _, algo := range append([]int{b.Algo(d)}, b.Alternatives(d)...) {
				if err := b.Use(d, algo); err != nil {
					return err
				}
				if err := runDir(b, d); err != nil {
					return err
				}
			}
		}
		t := a.Timings(DirForward)
		bad := [][]AlgoTime{
			append(slices.Clone(t), AlgoTime{Algo: 5, MS: 9, Math: MathFMA}),           // the library lacks it
			{{Algo: t[0].Algo, MS: t[0].MS, Memory: t[0].Memory + 1, Math: t[0].Math}}, // another workspace
			{{Algo: 1, MS: 1, Memory: 1 << 20, Math: MathTensorOp}},                    // tensor cores
			{{Algo: 9, MS: 1, Math: MathFMA}},                                          // out of range
			// Last: set to strict FP32 before the refusal, which must
			// put back the math type asked for (the search below).
			{{Algo: 0, MS: 1, Math: MathFMA}, {Algo: 5, MS: 2, Math: MathFMA}},
		}
		for i, timed := range bad {
			if tf32 && i == 2 {
				continue // tensor cores are allowed there
			}
			err := z.Restore(DirForward, timed, timed[0].Algo)
			fmt.Printf("refused %d: %v\n", i, err)
			if z.Prepared(DirForward) {
				return fmt.Errorf("offer %d: the direction is prepared after a refusal", i)
			}
		}
		// Refused, the direction is searched as usual, in the math type
		// asked for.
		if err := z.Prepare(DirForward); err != nil {
			return err
		}
		fmt.Printf("searched after the refusals: algorithm %d in math type %d\n", z.Algo(DirForward), z.Timings(DirForward)[0].Math)
		return nil
	})
	if err != nil {
		fmt.Println("error:", err)
	}
	return 0
}

// TestFakeRestore: a remembered search adopted by a new convolution is
// not searched again, runs its algorithms in the math types they were
// timed in, and what the library refuses now is refused.
func TestFakeRestore(t *testing.T) {
	for _, s := range []string{"restore", "restore-tf32"} {
		r := fakecuda.Run(t, s, "")
		if msg, ok := r.Line("error: "); ok {
			t.Fatalf("%s: %s", s, msg)
		}
		if len(r.Violations) > 0 || len(r.Leaks()) > 0 {
			t.Errorf("%s: misuse %q, left alive %v", s, r.Violations, r.Leaks())
		}
		// The first convolution's searches and the refused one's forward
		// search: none for the restored one.
		if want := warmRounds + findRounds; r.Finds != [3]int{2 * want, want, want} {
			t.Errorf("%s: cudnnFind calls by direction %v, want %v", s, r.Finds, [3]int{2 * want, want, want})
		}
		// After the refusals the search runs in the math type asked for:
		// with tensor cores allowed the fake times algorithm 1 in
		// CUDNN_TENSOR_OP_MATH, in strict FP32 in CUDNN_FMA_MATH.
		want := fmt.Sprintf("algorithm 1 in math type %d", MathFMA)
		if s == "restore-tf32" {
			want = fmt.Sprintf("algorithm 1 in math type %d", MathTensorOp)
		}
		if msg, _ := r.Line("searched after the refusals: "); msg != want {
			t.Errorf("%s: searched after the refusals: %q, want %q", s, msg, want)
		}
		for i, want := range []string{"CUDNN_STATUS_NOT_SUPPORTED", "workspace", "math type", "out of range", "CUDNN_STATUS_NOT_SUPPORTED"} {
			if s == "restore-tf32" && i == 2 {
				continue // tensor cores are allowed there
			}
			msg, ok := r.Line(fmt.Sprintf("refused %d: ", i))
			if !ok || !strings.Contains(msg, want) {
				t.Errorf("%s: offer %d: %q, want an error containing %q", s, i, msg, want)
			}
		}
	}
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
	fakecuda.Run(t, "tf32", "").Clean(t)
}
