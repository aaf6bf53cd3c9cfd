// schedule.go: learning-rate schedules. The optimizer's update computes
// the rate of each step on the device from the step count it already
// keeps (OptConfig.Sched and the step tensor), so a recorded CUDA graph
// replays every step unchanged: the schedule adds no argument that varies
// and no host round trip. Factor is the Go form of the formula that the
// CPU engine uses and kernels/kernels.cu's lr_factor repeats.

package engine

import (
	"fmt"
	"math"
)

// ScheduleKind names a learning-rate schedule.
type ScheduleKind int

// The schedules.
const (
	// ConstantLR keeps the rate at --lr (the reference's recipe).
	ConstantLR ScheduleKind = iota
	// CosineLR warms up linearly over Warmup steps to --lr, then follows a
	// half cosine down to Final·lr at step Total.
	CosineLR
)

// Schedules lists the schedule names, as --schedule spells them.
var Schedules = []string{"constant", "cosine"}

func (k ScheduleKind) String() string {
	if k >= 0 && int(k) < len(Schedules) {
		return Schedules[k]
	}
	return fmt.Sprintf("ScheduleKind(%d)", int(k))
}

// MarshalText writes the kind as --schedule spells it.
func (k ScheduleKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (k *ScheduleKind) UnmarshalText(b []byte) error {
	v, err := ParseSchedule(string(b))
	*k = v
	return err
}

// ScheduleEnded reports whether a run of epochs, at pos, can train no
// further: it has trained them all, and its schedule (any but the
// constant rate, which a resume can extend) has brought the rate to its
// end. Its last checkpoint then holds the weights alone (train's, and the
// study's final model).
func ScheduleEnded(pos Position, epochs int, kind ScheduleKind) bool {
	return pos.Epoch >= epochs && kind != ConstantLR
}

// ParseSchedule maps a --schedule value to its kind.
func ParseSchedule(s string) (ScheduleKind, error) {
	for i, n := range Schedules {
		if s == n {
			return ScheduleKind(i), nil
		}
	}
	return 0, fmt.Errorf("schedule %q: expected constant or cosine", s)
}

// Schedule is a learning-rate schedule over a run's optimizer steps. The
// zero value is the constant rate.
type Schedule struct {
	Kind ScheduleKind `json:"kind"`
	// Warmup is the number of steps of linear warm-up (cosine only).
	Warmup int `json:"warmup,omitempty"`
	// Total is the step at which the cosine reaches Final (the run's
	// last step); later steps stay at Final.
	Total int `json:"total,omitempty"`
	// Final is the rate at Total as a fraction of the peak.
	Final float32 `json:"final,omitempty"`
}

// WarmupFraction is the share of a run's steps that the cosine schedule
// spends warming up.
const WarmupFraction = 0.02

// OneStepWhy says why a run of one step keeps a constant rate, for the
// note the commands print about such a run.
const OneStepWhy = "a cosine schedule would give that step its final rate (more training images or epochs make a schedule)"

// NewSchedule returns the schedule kind for a run of total steps. A run
// of one step keeps the constant rate: there is nothing to schedule, and a
// cosine would give its one update the final rate.
func NewSchedule(kind ScheduleKind, total int) Schedule {
	if kind == ConstantLR || total < 2 {
		return Schedule{}
	}
	warm := min(int(math.Ceil(WarmupFraction*float64(total))), total-1)
	return Schedule{Kind: kind, Warmup: warm, Total: total}
}

// Validate reports a schedule that cannot be applied.
func (s Schedule) Validate() error {
	switch s.Kind {
	case ConstantLR:
		return nil
	case CosineLR:
		if s.Total < 1 || s.Warmup < 0 || s.Warmup >= s.Total || !(s.Final >= 0 && s.Final <= 1) {
			return fmt.Errorf("cosine schedule: warm-up %d, total %d, final %v: expected 0 ≤ warm-up < total and final in [0, 1]", s.Warmup, s.Total, s.Final)
		}
		return nil
	}
	return fmt.Errorf("unknown schedule kind %d", int(s.Kind))
}

// String describes the schedule for the model line, e.g.
// "cosine (warm-up 94 steps, to 0 at step 4690)".
func (s Schedule) String() string {
	if s.Kind != CosineLR {
		return "constant"
	}
	steps := "steps"
	if s.Warmup == 1 {
		steps = "step"
	}
	end := "0" // every run's
	if s.Final != 0 {
		end = fmt.Sprintf("%g×lr", s.Final)
	}
	return fmt.Sprintf("cosine (warm-up %d %s, to %s at step %d)", s.Warmup, steps, end, s.Total)
}

// Factor is the multiplier of the peak rate at update t (1-based: the
// first update of a run is t = 1), in float32 as the kernels compute it:
// constant 1; cosine t/Warmup during the warm-up, then
// Final + (1−Final)·(1 + cos(π·p))/2 with p = (t−Warmup)/(Total−Warmup)
// clamped to [0, 1].
func (s Schedule) Factor(t float32) float32 {
	if s.Kind != CosineLR {
		return 1
	}
	w := float32(s.Warmup)
	if t <= w {
		return t / w
	}
	p := (t - w) / (float32(s.Total) - w)
	if p > 1 {
		p = 1
	}
	c := float32(math.Cos(float64(float32(math.Pi) * p)))
	return s.Final + (1-s.Final)*0.5*(1+c)
}
