// recipe.go: training recipes: named sets of the choices that shape a
// run beyond the architecture and the optimizer's rate. "reference" is the
// reference study's (constant rate, no augmentation): a run with it is the
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
	Schedule ScheduleKind
	Augment  int // Gather's translation in pixels
}

// The recipes.
var (
	ReferenceRecipe = Recipe{Name: "reference", Schedule: ConstantLR, Augment: 0}
	DefaultRecipe   = Recipe{Name: "default", Schedule: CosineLR, Augment: 2}
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
// "default: --schedule cosine --augment shift:2".
func (r Recipe) Describe() string {
	return fmt.Sprintf("%s: --schedule %v --augment %s", r.Name, r.Schedule, AugmentName(r.Augment))
}
