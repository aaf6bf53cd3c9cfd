// shard.go: splitting a study over machines. A shard is I of N; its index
// comes from the command line (--shard I/N) or from the scheduler
// (--shard auto/N: a Kubernetes Indexed Job's JOB_COMPLETION_INDEX, else
// a Slurm array's SLURM_ARRAY_TASK_ID). The grid is split by expected cost
// (see Cost), greedily and deterministically, so that every shard of a
// study computes the same split on any machine.

package tune

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/shown"
)

// Shard selects the I-th (0-based) of N disjoint slices of the grid.
type Shard struct {
	I int `json:"i"`
	N int `json:"n"`
	// Split names how the grid was divided: SplitCost for shards made by
	// this version; "" in folders of earlier versions, which sliced the
	// grid in grid order and cannot be continued by this one.
	Split string `json:"split,omitempty"`
}

// SplitCost is the cost-balanced split of Spec.ShardOf.
const SplitCost = "cost"

func newShard(i, n int) Shard {
	s := Shard{I: i, N: n}
	if n > 1 {
		s.Split = SplitCost
	}
	return s
}

// ParseShard reads "I/N" with 0 <= I < N.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard %q: expected I/N with 0 <= I < N, e.g. 0/4, or auto/N to take I from a Kubernetes Indexed Job or a Slurm array", s)
	}
	if n > MaxConfigs {
		return Shard{}, tooManyShards(s)
	}
	return newShard(i, n), nil
}

// tooManyShards refuses --shard s of more than MaxConfigs shards.
func tooManyShards(s string) error {
	return fmt.Errorf("shard %s: a study has at most %d shards, as its grid has at most %d configurations", s, MaxConfigs, MaxConfigs)
}

// Scheduler environment variables read by ResolveShard.
const (
	EnvK8sIndex   = "JOB_COMPLETION_INDEX"   // Kubernetes Indexed Job: 0..completions-1
	EnvSlurmID    = "SLURM_ARRAY_TASK_ID"    // Slurm array: this task's index
	EnvSlurmCount = "SLURM_ARRAY_TASK_COUNT" // Slurm array: number of tasks
	EnvSlurmMin   = "SLURM_ARRAY_TASK_MIN"   // Slurm array: lowest index
	EnvSlurmMax   = "SLURM_ARRAY_TASK_MAX"   // Slurm array: highest index
)

// ResolveShard reads --shard: "I/N", or "auto/N" with I taken from the
// environment (lookup is os.LookupEnv outside tests). from says where I
// came from, for the log ("" for I/N).
func ResolveShard(s string, lookup func(string) (string, bool)) (sh Shard, from string, err error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok || a != "auto" {
		sh, err = ParseShard(s)
		return sh, "", err
	}
	n, err := strconv.Atoi(b)
	if err != nil || n < 1 {
		return Shard{}, "", fmt.Errorf("shard %q: expected auto/N with N the number of shards (the Job's completions or the array's size), e.g. auto/4", s)
	}
	if n > MaxConfigs {
		return Shard{}, "", tooManyShards(s)
	}
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}
	num := func(name, v string) (int, error) {
		i, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("shard %s: %s=%q is not a whole number", s, name, v)
		}
		return i, nil
	}
	if v, ok := get(EnvK8sIndex); ok {
		i, err := num(EnvK8sIndex, v)
		if err != nil {
			return Shard{}, "", err
		}
		if i < 0 || i >= n {
			return Shard{}, "", fmt.Errorf("shard %s: %s=%d is out of range 0..%d: the Indexed Job's completions must equal N (%d)", s, EnvK8sIndex, i, n-1, n)
		}
		// Both schedulers' indices set (a Slurm job started from a pod, or
		// the other way round) and disagreeing: which one numbers this
		// shard cannot be told, and a guess would run one shard twice.
		if sv, ok := get(EnvSlurmID); ok {
			if sn, err := strconv.Atoi(sv); err != nil || sn != i {
				return Shard{}, "", fmt.Errorf("shard %s: both %s=%d (Kubernetes Indexed Job) and %s=%q (Slurm array) are set and differ, so this shard's index is ambiguous: "+
					"unset the one that does not number the shards, or give the index yourself, e.g. --shard %d/%d", s, EnvK8sIndex, i, EnvSlurmID, sv, i, n)
			}
		}
		return newShard(i, n), fmt.Sprintf("%s=%d (Kubernetes Indexed Job)", EnvK8sIndex, i), nil
	}
	v, ok := get(EnvSlurmID)
	if !ok {
		return Shard{}, "", fmt.Errorf("shard %s takes the shard index from %s (a Kubernetes Indexed Job) or %s (a Slurm array job), and neither is set; "+
			"outside those give the index yourself, e.g. --shard 0/%d", s, EnvK8sIndex, EnvSlurmID, n)
	}
	i, err := num(EnvSlurmID, v)
	if err != nil {
		return Shard{}, "", err
	}
	// An array of N tasks, 0..N-1, or a part of one: `sbatch --array=2`
	// reruns task 2 alone, and the merge names any shard left out. An
	// array reaching past N-1 is another split than the study's.
	want := fmt.Sprintf("submit the array as --array=0-%d (or a part of it, e.g. --array=%d to run task %d again)", n-1, n-1, n-1)
	count := -1
	if c, ok := get(EnvSlurmCount); ok {
		cn, err := num(EnvSlurmCount, c)
		if err != nil {
			return Shard{}, "", err
		}
		if cn > n {
			return Shard{}, "", fmt.Errorf("shard %s: the Slurm array has %s (%s=%d) but the study is split into %d shards: submit the array as --array=0-%d, or use --shard auto/%d",
				s, shown.Count(cn, "task"), EnvSlurmCount, cn, n, n-1, cn)
		}
		count = cn
	}
	if m, ok := get(EnvSlurmMin); ok {
		mn, err := num(EnvSlurmMin, m)
		if err != nil {
			return Shard{}, "", err
		}
		if mn < 0 || (count > 0 && mn+count-1 > n-1) {
			return Shard{}, "", fmt.Errorf("shard %s: the Slurm array starts at %d (%s) with %s, so it reaches past %d, the last of %d shards: %s", s, mn, EnvSlurmMin, shown.Count(count, "task"), n-1, n, want)
		}
	}
	if m, ok := get(EnvSlurmMax); ok {
		mx, err := num(EnvSlurmMax, m)
		if err != nil {
			return Shard{}, "", err
		}
		if mx > n-1 {
			return Shard{}, "", fmt.Errorf("shard %s: the Slurm array ends at %d (%s), past %d, the last of %d shards: %s", s, mx, EnvSlurmMax, n-1, n, want)
		}
	}
	if i < 0 || i >= n {
		return Shard{}, "", fmt.Errorf("shard %s: %s=%d is out of range 0..%d: %s", s, EnvSlurmID, i, n-1, want)
	}
	if count > 0 && count < n {
		return newShard(i, n), fmt.Sprintf("%s=%d (Slurm array of %s of the %d: the merge needs the other shards' folders too)", EnvSlurmID, i, shown.Count(count, "task"), n), nil
	}
	return newShard(i, n), fmt.Sprintf("%s=%d (Slurm array)", EnvSlurmID, i), nil
}

func (s Shard) String() string {
	if s.N <= 1 {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}

// check refuses a shard that would get nothing: every shard of a
// cost-balanced split gets at least one configuration when N is at most
// the number of configurations (the N costliest go to N different shards).
func (s Shard) check(configs int) error {
	if s.N <= 1 {
		return nil
	}
	if s.I < 0 || s.I >= s.N {
		return fmt.Errorf("shard %d/%d: expected 0 <= I < N", s.I, s.N)
	}
	if s.N > configs {
		return fmt.Errorf("--shard %s: the grid has only %s, so %d shards cannot each get one (at most %d can): split it into at most %d (--shard I/%d, or auto/%d with a Job or array of %s)",
			s, shown.Count(configs, "configuration"), s.N, configs, configs, configs, configs, shown.Count(configs, "task"))
	}
	return nil
}

// StepOverhead is the cost model's fixed cost of one training step, in
// units of the work of one image. A step of batch b costs StepOverhead + b,
// so an epoch of n images costs ceil(n/b)·(StepOverhead + b). With 128 an
// epoch at batch 64 costs twice one at batch 256 ((128+64)/64 = 3 against
// (128+256)/256 = 1.5 per image), as measured on a GPU, where a step's
// launches and synchronisation weigh as much as 128 images of arithmetic.
// On the CPU the per-step overhead is smaller, so the model overstates small
// batches there; the split is still deterministic and complete, only less
// even. Activations are taken to cost the same.
const StepOverhead = 128

// MNISTTrain is the number of MNIST training images the split is made from.
const MNISTTrain = 60000

// MNISTTest is the number of MNIST test images the final model is tested
// on.
const MNISTTest = 10000

// FinalImages is the expected number of images the final retraining
// trains on per epoch, the most of any run: all of MNIST's training
// images, or --train-limit of them.
func (s *Spec) FinalImages() int {
	if s.TrainLimit > 0 && s.TrainLimit < MNISTTrain {
		return s.TrainLimit
	}
	return MNISTTrain
}

// TrainImages is the expected number of images a run trains on per epoch.
func (s *Spec) TrainImages() int {
	n := MNISTTrain - s.ValImages(MNISTTrain)
	if s.TrainLimit > 0 && s.TrainLimit < n {
		n = s.TrainLimit
	}
	return n
}

// Cost is the expected cost of a configuration, all its rounds (folds)
// and epochs, in image units (see StepOverhead).
func (s *Spec) Cost(c Config) int64 {
	n := s.TrainImages()
	steps := engine.StepsPerEpoch(n, c.BatchSize)
	return int64(s.Epochs) * int64(s.Rounds()) * int64(steps) * int64(StepOverhead+c.BatchSize)
}

// byCost returns the indices of configs, costliest first, ties in grid
// order.
func (s *Spec) byCost(configs []Config) []int {
	order := make([]int, len(configs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ca, cb := s.Cost(configs[a]), s.Cost(configs[b])
		switch {
		case ca > cb:
			return -1
		case ca < cb:
			return 1
		}
		return 0
	})
	return order
}

// ShardOf assigns every configuration of the grid (in grid order) to one
// of n shards: longest processing time first, each configuration in turn
// (costliest first, ties in grid order) to the shard with the least cost so
// far (ties to the lowest index). Integer costs and fixed tie rules make it
// the same on every machine.
func (s *Spec) ShardOf(n int) []int {
	configs := s.Configs()
	owner := make([]int, len(configs))
	if n <= 1 {
		return owner
	}
	load := make([]int64, n)
	for _, i := range s.byCost(configs) {
		best := 0
		for k := 1; k < n; k++ {
			if load[k] < load[best] {
				best = k
			}
		}
		owner[i] = best
		load[best] += s.Cost(configs[i])
	}
	return owner
}

// Mine lists the configurations of this spec's shard, in the order they
// run: costliest first, ties in grid order (so that with several engines
// the long runs do not come last).
func (s *Spec) Mine() []Config {
	all := s.Configs()
	owner := s.ShardOf(s.Shard.N)
	var out []Config
	for _, i := range s.byCost(all) {
		if owner[i] == s.Shard.I || s.Shard.N <= 1 {
			out = append(out, all[i])
		}
	}
	return out
}

// ShardCost is the expected cost of each of n shards.
func (s *Spec) ShardCost(n int) []int64 {
	load := make([]int64, max(n, 1))
	configs := s.Configs()
	for i, o := range s.ShardOf(n) {
		load[o] += s.Cost(configs[i])
	}
	return load
}
