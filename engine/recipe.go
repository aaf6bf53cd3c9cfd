// recipe.go: training recipes: named sets of the choices that shape a
// run beyond the architecture. "reference" is the reference study's
// (learning rate 0.001, constant, no augmentation): a run with it is the
// training cnngpu did before recipes existed, bit for bit. "default" is
// cnngpu's own, chosen by mean test accuracy over seeds (docs and README
// give the measurements): a cosine schedule to a peak of 0.003, images
// shifted by up to 2 pixels, turned by up to 10° and resized by up to
// 10%, and targets smoothed by 0.1 (since 2026-12-05; before, the shift
// alone and one-hot targets: --augment shift:2 --label-smoothing 0).

package engine

import (
	"fmt"
	"strings"
)

// Recipe is a named set of training choices; single flags override parts.
type Recipe struct {
	Name     string
	LR       float64 // the learning rate (its peak, with a schedule)
	Schedule ScheduleKind
	Augment  Augmentation // Gather's
	// LabelSmoothing is the training targets' (0: one-hot;
	// --label-smoothing sets it).
	LabelSmoothing float64
}

// The recipes.
var (
	ReferenceRecipe = Recipe{Name: "reference", LR: 0.001, Schedule: ConstantLR}
	DefaultRecipe   = Recipe{Name: "default", LR: 0.003, Schedule: CosineLR, Augment: Augmentation{Shift: 2, Rotate: 10, Scale: 0.1}, LabelSmoothing: 0.1}
)

// RecipeNames lists the recipes as --recipe spells them.
var RecipeNames = []string{DefaultRecipe.Name, ReferenceRecipe.Name}

// ParseRecipe returns a recipe by name.
func ParseRecipe(s string) (Recipe, error) {
	switch s {
	case DefaultRecipe.Name:
		return DefaultRecipe, nil
	case ReferenceRecipe.Name:
		return ReferenceRecipe, nil
	}
	return Recipe{}, fmt.Errorf("recipe %q: expected %s", s, strings.Join(RecipeNames, " or "))
}

// Describe is the recipe's parts in flag spelling, e.g. "default: --lr
// 0.003 --schedule cosine --augment shift:2,rotate:10,scale:0.1
// --label-smoothing 0.1".
func (r Recipe) Describe() string {
	return fmt.Sprintf("%s: --lr %g --schedule %v --augment %s --label-smoothing %g", r.Name, r.LR, r.Schedule, AugmentName(r.Augment), r.LabelSmoothing)
}
