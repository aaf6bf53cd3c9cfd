// Package tune runs the reference hyperparameter study: every combination
// of learning rate, batch size and activation, trained on a stratified
// hold-out or K folds, recorded per epoch, resumable, shardable, with the
// best setting retrained on all training images and tested.
//
// spec.go: the study's definition (saved as study.json), its
// configurations and their names.
package tune

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/shown"
)

// Spec defines a study. Two runs of `cnngpu tune` into one folder must
// have equal Specs (Shard aside).
type Spec struct {
	Version    int       `json:"version"`
	LRs        []float64 `json:"lrs"`
	BatchSizes []int     `json:"batch_sizes"`
	Acts       []string  `json:"activations"`
	Epochs     int       `json:"epochs"`
	Optimizer  string    `json:"optimizer"`
	Momentum   float64   `json:"momentum,omitempty"`
	Seed       uint64    `json:"seed"`
	Arch       string    `json:"arch"`
	ValSplit   float64   `json:"val_split,omitempty"` // hold-out fraction, when Folds is 0
	Folds      int       `json:"folds,omitempty"`     // K for K-fold cross-validation
	TrainLimit int       `json:"train_limit,omitempty"`
	// The training recipe (engine.Recipe) after any --schedule or
	// --augment override; all three are empty in studies made before
	// recipes, which ran the reference recipe.
	Recipe   string `json:"recipe,omitempty"`
	Schedule string `json:"schedule,omitempty"` // "" is constant
	// Augmentation is --augment's: the translation in pixels and the warp
	// (0: none; the warp absent in studies made before it).
	engine.Augmentation
	// LabelSmoothing is --label-smoothing's (0, one-hot targets, in
	// studies made before it).
	LabelSmoothing float64 `json:"label_smoothing,omitempty"`
	// Data is the training set's fingerprint (loader.Set.Fingerprint),
	// recorded when the study first trains; "" until then, and in studies
	// made before it was recorded.
	Data string `json:"data,omitempty"`
	// Precision is the arithmetic: "fp32" (strict, either engine) or
	// "tf32" (a GPU's tensor cores); "" in studies made before it was
	// recorded, which either may continue (it cannot be told which they
	// trained in). Runs of fp32 and tf32 are not ranked together.
	Precision string `json:"precision,omitempty"`
	Shard     Shard  `json:"shard"`
}

// RecipeLabel describes the study's training recipe, e.g.
// "default (cosine schedule, augment shift:2)", and ", label smoothing
// 0.1" where it has one (so that the runs of a study without it keep the
// label, and the key, they were recorded with).
func (s *Spec) RecipeLabel() string {
	name, sched := s.Recipe, s.Schedule
	if name == "" {
		name = "reference"
	}
	if sched == "" {
		sched = "constant"
	}
	ls := ""
	if s.LabelSmoothing != 0 {
		ls = fmt.Sprintf(", label smoothing %g", s.LabelSmoothing)
	}
	return fmt.Sprintf("%s (%s schedule, augment %s%s)", name, sched, engine.AugmentName(s.Augmentation), ls)
}

// RecipeFlags is the study's recipe as the flags that train it, e.g.
// "--recipe default --schedule cosine --augment shift:2 --label-smoothing
// 0": what continues a study made before the default recipe changed.
func (s *Spec) RecipeFlags() string {
	name, sched := s.Recipe, s.Schedule
	if name == "" {
		name = engine.ReferenceRecipe.Name
	}
	if sched == "" {
		sched = engine.ConstantLR.String()
	}
	return fmt.Sprintf("--recipe %s --schedule %s --augment %s --label-smoothing %s", name, sched, engine.AugmentName(s.Augmentation),
		strconv.FormatFloat(s.LabelSmoothing, 'f', -1, 64))
}

// SeedsArgs is the arguments of the `cnngpu train` command ("train
// --seeds …") that trains setting c as the study's final retraining does
// on the engine it named (engine.Engine.Name: --cpu for the CPU engine,
// whose training of the study's own seed is the retraining itself, bit
// for bit), once for each of ten seeds from the study's own: the test
// accuracy over seeds, where the study's is one training's. (Not --data:
// the study does not record where its data was.)
func (s *Spec) SeedsArgs(c Config, engineName string) string {
	first := s.Seed
	if first > math.MaxUint64-9 {
		first = math.MaxUint64 - 9
	}
	var b strings.Builder
	b.WriteString("train ")
	if strings.HasPrefix(engineName, "cpu") {
		b.WriteString("--cpu ")
	}
	fmt.Fprintf(&b, "--seeds %d-%d --lr %s --batch-size %d --activation %s --epochs %d", first, first+9,
		strconv.FormatFloat(c.LR, 'g', -1, 64), c.BatchSize, c.Act, s.Epochs)
	if s.Optimizer != "" {
		fmt.Fprintf(&b, " --optimizer %s", s.Optimizer)
	}
	if s.Optimizer == "sgd" {
		fmt.Fprintf(&b, " --momentum %s", strconv.FormatFloat(s.Momentum, 'g', -1, 64))
	}
	if s.Arch != "" {
		fmt.Fprintf(&b, " --arch %s", s.Arch)
	}
	fmt.Fprintf(&b, " %s", s.RecipeFlags())
	if s.TrainLimit > 0 {
		fmt.Fprintf(&b, " --train-limit %d", s.TrainLimit)
	}
	if s.Precision == "tf32" {
		b.WriteString(" --precision tf32")
	}
	return b.String()
}

// oldDefault reports whether the study's recipe is the default one of
// before 2026-12-05 (a cosine schedule, shifts of 2 pixels, one-hot
// targets), which `cnngpu tune` without flags no longer trains.
func (s *Spec) oldDefault() bool {
	return s.Recipe == engine.DefaultRecipe.Name && s.Schedule == engine.CosineLR.String() &&
		s.Augmentation == engine.Augmentation{Shift: 2} && s.LabelSmoothing == 0
}

// CheckpointParts is what the study's checkpoints are made of, for their
// size: the architecture (the activation aside, which does not change
// it), the optimizer (its kind) and the schedule's kind.
func (s *Spec) CheckpointParts() (engine.Arch, engine.OptConfig, engine.ScheduleKind, error) {
	arch, err := engine.NewArch(s.Arch, engine.ReLU)
	if err != nil {
		return engine.Arch{}, engine.OptConfig{}, 0, err
	}
	kind, err := s.schedule()
	if err != nil {
		return engine.Arch{}, engine.OptConfig{}, 0, err
	}
	return arch, optConfig(s, 0, 1, 1), kind, nil
}

// schedule is the study's schedule kind.
func (s *Spec) schedule() (engine.ScheduleKind, error) {
	if s.Schedule == "" {
		return engine.ConstantLR, nil
	}
	return engine.ParseSchedule(s.Schedule)
}

// SplitSeed fixes the hold-out and the folds, as in the reference study.
const SplitSeed = 42

// Config is one point of the grid.
type Config struct {
	LR        float64 `json:"lr"`
	BatchSize int     `json:"batch_size"`
	Act       string  `json:"activation"`
}

// Key names the configuration in file names, e.g. "lr0.001_bs128_relu".
func (c Config) Key() string {
	return fmt.Sprintf("lr%s_bs%d_%s", strconv.FormatFloat(c.LR, 'g', -1, 64), c.BatchSize, c.Act)
}

// Label is the human form, e.g. "lr 0.001, batch 128, relu".
func (c Config) Label() string {
	return fmt.Sprintf("lr %s, batch %d, %s", strconv.FormatFloat(c.LR, 'g', -1, 64), c.BatchSize, c.Act)
}

// Configs lists the grid in a fixed order: activation, then batch size,
// then learning rate.
func (s *Spec) Configs() []Config {
	var out []Config
	for _, a := range s.Acts {
		for _, b := range s.BatchSizes {
			for _, lr := range s.LRs {
				out = append(out, Config{LR: lr, BatchSize: b, Act: a})
			}
		}
	}
	return out
}

// Rounds is the number of trainings per configuration (K folds, or 1).
func (s *Spec) Rounds() int { return max(1, s.Folds) }

// Scheme describes the validation scheme.
func (s *Spec) Scheme() string {
	if s.Folds > 0 {
		return fmt.Sprintf("stratified %d-fold cross-validation (seed %d)", s.Folds, SplitSeed)
	}
	return fmt.Sprintf("stratified hold-out of %g%% (seed %d)", 100*s.ValSplit, SplitSeed)
}

// Validate checks the spec's values.
func (s *Spec) Validate() error {
	if len(s.LRs) == 0 || len(s.BatchSizes) == 0 || len(s.Acts) == 0 {
		return fmt.Errorf("empty grid: give at least one learning rate, batch size and activation")
	}
	// Before the grid is built: lists of thousands (a study.json
	// edited) would make millions of configurations. Each list is at
	// most MaxConfigs long first, so that the product does not overflow.
	if l, b, a := len(s.LRs), len(s.BatchSizes), len(s.Acts); l > MaxConfigs || b > MaxConfigs || a > MaxConfigs || l*b*a > MaxConfigs {
		return fmt.Errorf("a grid of %d × %d × %d configurations (learning rates × batch sizes × activations): a study takes at most %d", l, b, a, MaxConfigs)
	}
	if s.Shard.N > MaxConfigs {
		return tooManyShards(fmt.Sprintf("%d/%d", s.Shard.I, s.Shard.N))
	}
	for _, lr := range s.LRs {
		if !(lr > 0) || math.IsInf(lr, 0) {
			return fmt.Errorf("learning rate %v: expected a positive finite number", lr)
		}
	}
	if s.Optimizer != "" && s.Optimizer != "adam" && s.Optimizer != "sgd" {
		return fmt.Errorf("optimizer %q: expected adam or sgd", s.Optimizer)
	}
	if s.Arch != "" {
		if _, err := engine.NewArch(s.Arch, engine.ReLU); err != nil {
			return err // "unknown architecture …"
		}
	}
	if s.Recipe != "" {
		if _, err := engine.ParseRecipe(s.Recipe); err != nil {
			return err
		}
	}
	if s.TrainLimit < 0 {
		return fmt.Errorf("train limit %d: expected 0 (all images) or more", s.TrainLimit)
	}
	if s.Optimizer == "sgd" && !(s.Momentum >= 0 && s.Momentum < 1) {
		return fmt.Errorf("momentum %v: expected a number in [0, 1)", s.Momentum)
	}
	if s.Precision != "" && s.Precision != "fp32" && s.Precision != "tf32" {
		return fmt.Errorf("precision %q: expected fp32 or tf32", s.Precision)
	}
	for _, b := range s.BatchSizes {
		if b < 1 {
			return fmt.Errorf("batch size %d: expected a positive number", b)
		}
	}
	for _, a := range s.Acts {
		if a != "relu" && a != "sigmoid" && a != "tanh" {
			return fmt.Errorf("activation %q: expected relu, sigmoid or tanh", a)
		}
	}
	if s.Epochs > engine.MaxEpochs {
		return fmt.Errorf("epochs %d: expected at most %d (the final model's checkpoint records every epoch's metrics, in a header of at most %d MB)", s.Epochs, engine.MaxEpochs, engine.MaxCheckpointHeader>>20)
	}
	if s.Epochs < 1 {
		return fmt.Errorf("epochs %d: expected at least 1", s.Epochs)
	}
	if s.Folds == 1 || s.Folds < 0 || s.Folds > MNISTTrain {
		return fmt.Errorf("folds %d: expected 0 (hold-out) or 2 to %d", s.Folds, MNISTTrain)
	}
	if s.Folds == 0 && !(s.ValSplit > 0 && s.ValSplit < 1) {
		return fmt.Errorf("validation split %v: expected a fraction between 0 and 1", s.ValSplit)
	}
	if _, err := s.schedule(); err != nil {
		return err
	}
	if err := s.Augmentation.Check(); err != nil {
		return fmt.Errorf("augmentation %w", err)
	}
	if err := engine.CheckLabelSmoothing("label smoothing", s.LabelSmoothing); err != nil {
		return err
	}
	if s.Shard.N < 1 {
		s.Shard.N = 1
	}
	seen := map[string]bool{}
	// Rates are kept as float32 (the optimizer's): two that round to one
	// would train the same run twice.
	same := map[Config]float64{}
	for _, c := range s.Configs() {
		if seen[c.Key()] {
			return fmt.Errorf("the grid lists %s twice", c.Label())
		}
		seen[c.Key()] = true
		k := c
		k.LR = float64(float32(c.LR))
		if lr, ok := same[k]; ok {
			return fmt.Errorf("the grid lists lr %s and lr %s, the same rate as a 32-bit float (which training uses): give one of them",
				strconv.FormatFloat(lr, 'g', -1, 64), strconv.FormatFloat(c.LR, 'g', -1, 64))
		}
		same[k] = c.LR
	}
	return s.Shard.check(len(s.Configs()))
}

// CheckSteps refuses a study whose runs of images an epoch would take more
// optimizer steps at one of its batch sizes than the optimizer counts
// exactly (each run would refuse itself as it starts): checked where the
// data is known (the splits, the final retraining's set; MNIST's sizes for
// a plan made without it), for a study may train on fewer images, or more.
// Only batch sizes (the best setting's, for its retraining) where given.
func (s *Spec) CheckSteps(images int, what string, only ...int) error {
	batches := s.BatchSizes
	if len(only) > 0 {
		batches = only
	}
	for _, b := range batches {
		if b >= 1 && engine.TooManySteps(s.Epochs, (images+b-1)/b) {
			return fmt.Errorf("%d epochs of batch %d over %d images (%s) are more than the %d optimizer steps the optimizer counts exactly: use larger batch sizes or fewer epochs",
				s.Epochs, b, images, what, engine.MaxSteps)
		}
	}
	return nil
}

// CheckMNISTSplit refuses a hold-out that leaves MNIST's training or
// validation set empty, for a plan made without the data (a dry run; a
// run refuses it on the data it has). The hold-out rounds each digit's
// share (loader.Holdout): below lo every digit's rounds to none (6742 is
// MNIST's largest digit class, the 1s), from hi on the smallest class's
// to all (5421, the 5s), which leaves the training set without that digit.
func (s *Spec) CheckMNISTSplit() error {
	if lo, hi := 0.5/6742, 1-0.5/5421; s.Folds == 0 && (s.ValSplit < lo || s.ValSplit >= hi) {
		return fmt.Errorf("--val-split %v leaves MNIST's validation set empty or its training set without a digit (each digit's share is rounded): expected at least %.3g and below %.7g", s.ValSplit, lo, hi)
	}
	return nil
}

// RunKey names what the study's settings make of each of its runs
// (everything but the grid and the shard), as run files record it: a run
// file from another study is refused rather than adopted.
func (s *Spec) RunKey() string {
	return fmt.Sprintf("%s, %s momentum %g, seed %d, arch %s, %s, train limit %d, recipe %s",
		shown.Count(s.Epochs, "epoch"), s.Optimizer, s.Momentum, s.Seed, s.Arch, s.Scheme(), s.TrainLimit, s.RecipeLabel())
}

// Diff describes how other differs from s, ignoring the shard and the
// training data (which recordData checks once the data is known); "" when
// they define the same study. mine and theirs name where s and other come
// from ("in the folder", "given now").
func (s *Spec) Diff(other *Spec, mine, theirs string) string {
	var d []string
	add := func(name string, a, b any) {
		if fmt.Sprint(a) != fmt.Sprint(b) {
			d = append(d, fmt.Sprintf("%s %v %s, %v %s", name, a, mine, b, theirs))
		}
	}
	// The same values in another order are another grid (the order of
	// its configurations, and so the shards' split): said as such.
	order := func(name string, a, b any, same bool) {
		if same && fmt.Sprint(a) != fmt.Sprint(b) {
			name += " (the same, in another order, which orders the grid and its split)"
		}
		add(name, a, b)
	}
	order("learning rates", s.LRs, other.LRs, sameSet(s.LRs, other.LRs))
	order("batch sizes", s.BatchSizes, other.BatchSizes, sameSet(s.BatchSizes, other.BatchSizes))
	order("activations", s.Acts, other.Acts, sameSet(s.Acts, other.Acts))
	add("epochs", s.Epochs, other.Epochs)
	add("optimizer", s.Optimizer, other.Optimizer)
	add("momentum", s.Momentum, other.Momentum)
	add("seed", s.Seed, other.Seed)
	add("arch", s.Arch, other.Arch)
	add("validation split", s.ValSplit, other.ValSplit)
	add("folds", s.Folds, other.Folds)
	add("train limit", s.TrainLimit, other.TrainLimit)
	add("recipe", s.RecipeLabel(), other.RecipeLabel())
	if s.Precision != "" && other.Precision != "" {
		add("precision", s.Precision, other.Precision)
	}
	return strings.Join(d, "; ")
}

// maxStudyFile bounds each file of a study folder read whole (the
// definition, a run's record, the report, the final result: kilobytes),
// so that a device or a runaway file there is refused, not read until
// memory runs out.
const maxStudyFile = 64 << 20

// maxSpecFile bounds study.json: a grid of MaxConfigs configurations is a
// few hundred kilobytes, and a file of 66 MB of short list entries took a
// gigabyte to read and refuse.
const maxSpecFile = 1 << 20

// SpecVersion is the latest version of the study definition this cnngpu
// reads (a 0, which no cnngpu wrote, is read too). It writes version 3
// where the study trains in tf32, version 2 where it trains with label
// smoothing or a warp of the images, which builds reading earlier
// versions alone would ignore (training the study otherwise), and
// version 1, which every build reads, where it does neither.
const SpecVersion = 3

// version is the version s is written as (SpecVersion's comment).
func (s *Spec) version() int {
	switch {
	case s.Precision == "tf32":
		return 3
	case engine.LaterSettings(s.LabelSmoothing, s.Augmentation):
		return 2
	}
	return 1
}

// PrecisionLabel is the study's arithmetic: "fp32", "tf32", or "not
// recorded" (an earlier cnngpu's study).
func (s *Spec) PrecisionLabel() string {
	if s.Precision == "" {
		return "not recorded"
	}
	return s.Precision
}

// SpecFile is the study definition's name in a study folder.
const SpecFile = "study.json"

// LoadSpec reads dir/study.json.
func LoadSpec(dir string) (*Spec, error) {
	b, err := fileutil.ReadFile(filepath.Join(dir, SpecFile), maxSpecFile)
	if tl := (*fileutil.TooLargeError)(nil); errors.As(err, &tl) {
		return nil, fmt.Errorf("%v: cnngpu writes a study's definition of a few hundred KB at most: the file was edited or damaged; restore it, or run the study again in a new folder", err)
	}
	if err != nil {
		return nil, err
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %v; the study's definition is damaged (cnngpu writes it whole, by a rename): restore it (from a backup, or a shard's folder this was merged from), or run the study again in a new folder",
			filepath.Join(dir, SpecFile), err)
	}
	// cnngpu writes only studies that pass Validate: one that does not was
	// edited or damaged, and drawing or resuming it would describe runs
	// that were never trained so. A shard with no configuration (more
	// shards than configurations, which earlier versions allowed) is
	// still read: it adds nothing to a merge.
	if s.Version < 0 {
		return nil, fmt.Errorf("%s: a study of version %d; cnngpu writes versions 1 to %d: the file was edited or damaged; restore it, or run the study again in a new folder", filepath.Join(dir, SpecFile), s.Version, SpecVersion)
	}
	if s.Version > SpecVersion {
		return nil, fmt.Errorf("%s: a study of version %d; this cnngpu reads versions up to %d: a newer cnngpu made it, and continues it", filepath.Join(dir, SpecFile), s.Version, SpecVersion)
	}
	v := s
	v.Shard = Shard{N: 1}
	err = v.Validate()
	switch {
	case err != nil:
	case s.Arch == "" || s.Optimizer == "":
		// Written by every cnngpu (Validate lets a Spec made in code
		// leave them to their defaults).
		err = fmt.Errorf("arch %q, optimizer %q: expected both named", s.Arch, s.Optimizer)
	case s.Shard.I < 0 || s.Shard.I >= max(s.Shard.N, 1) || s.Shard.N > MaxConfigs:
		err = fmt.Errorf("shard %d/%d: expected 0 <= I < N <= %d", s.Shard.I, s.Shard.N, MaxConfigs)
	case s.Shard.Split != "" && (s.Shard.Split != SplitCost || s.Shard.N < 2):
		err = fmt.Errorf("shard %d/%d split %q: expected %q in a shard of two or more, or none", s.Shard.I, s.Shard.N, s.Shard.Split, SplitCost)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v; cnngpu does not write such a study: the file was edited or damaged; restore it, or run the study again in a new folder",
			filepath.Join(dir, SpecFile), err)
	}
	s.Shard.N = max(s.Shard.N, 1)
	return &s, nil
}

// MaxConfigs is the most configurations a study's grid may hold: more
// than a hundred times the reference study's 36, each a training (the
// study's bookkeeping after each run reads the whole grid: 450,000
// configurations took 4.6 s between runs of 1 s).
const MaxConfigs = 4096

// Save writes dir/study.json atomically, as the version its settings
// need.
func (s *Spec) Save(dir string) error {
	s.Version = s.version()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return fileutil.WriteAtomic(filepath.Join(dir, SpecFile), append(b, '\n'), 0o644)
}
