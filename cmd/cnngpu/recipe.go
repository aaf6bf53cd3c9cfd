// recipe.go: the flags that choose a training recipe (--recipe) and
// override its parts (--schedule, --augment, --label-smoothing), shared by
// train and tune.

package main

import (
	"fmt"
	"strings"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/urfave/cli/v2"
)

var recipeFlag = &cli.StringFlag{Name: "recipe", Value: engine.DefaultRecipe.Name,
	Usage: "training recipe: default (" + strings.TrimPrefix(engine.DefaultRecipe.Describe(), "default: ") +
		") or reference (the reference study's: --lr 0.001, constant rate, no augmentation, one-hot targets); --schedule, --augment and --label-smoothing override its parts, and train's --lr its rate (tune's --lr is the grid's rates)"}

var scheduleFlag = &cli.StringFlag{Name: "schedule", DefaultText: "cosine with --recipe default, constant with --recipe reference",
	Usage: "learning-rate schedule, overriding the recipe's: constant (--lr throughout) or cosine (linear warm-up over the first 2% of steps to --lr, then a half cosine to 0 at the last step)"}

var labelSmoothingFlag = &cli.Float64Flag{Name: "label-smoothing", DefaultText: "0.1 with --recipe default, 0 with --recipe reference",
	Usage: "train towards targets of 1-ε+ε/10 for the label and ε/10 for each other class instead of one-hot ones (ε is this value: 0 for one-hot targets, or 3e-8 to 0.5), overriding the recipe's (0.1 in default, 0 in reference); the loss printed stays against the labels themselves"}

var augmentFlag = &cli.StringFlag{Name: "augment", DefaultText: engine.AugmentName(engine.DefaultRecipe.Augment) + " with --recipe default, none with --recipe reference",
	Usage: "training-image augmentation, overriding the recipe's: none, or parts joined by commas: shift (random translation by up to ±2 pixels each way, zero fill) or shift:N (±N, 1 to 7), rotate:D (turned by up to ±D degrees, up to 45), scale:F (resized by up to ±F, up to 0.25); e.g. shift:2,rotate:10,scale:0.1"}

// parseRecipe returns the recipe --recipe names with the parts that
// --schedule and --augment override (train's --lr overrides its rate).
func parseRecipe(c *cli.Context) (engine.Recipe, error) {
	r, err := engine.ParseRecipe(c.String("recipe"))
	if err != nil {
		return r, usageErrorf("--recipe %q: expected %s", c.String("recipe"), strings.Join(engine.RecipeNames, " or "))
	}
	if c.IsSet("schedule") {
		if r.Schedule, err = engine.ParseSchedule(c.String("schedule")); err != nil {
			return r, usageErrorf("--schedule %q: expected %s", c.String("schedule"), strings.Join(engine.Schedules, " or "))
		}
	}
	if c.IsSet("augment") {
		if r.Augment, err = engine.ParseAugment(c.String("augment")); err != nil {
			return r, usageErrorf("--augment: %v", err)
		}
	}
	if c.IsSet("label-smoothing") {
		r.LabelSmoothing = c.Float64("label-smoothing")
		if err := engine.CheckLabelSmoothing("--label-smoothing", r.LabelSmoothing); err != nil {
			return r, usageErrorf("%v", err)
		}
		if _, on := engine.SmoothTargets(r.LabelSmoothing, engine.Classes); r.LabelSmoothing > 0 && on == 1 {
			// It would be recorded (and the checkpoint need a newer
			// format) while the training stayed that of one-hot
			// targets: the label's target rounds to 1, and the others'
			// (a tenth of it) are too small to change a gradient.
			return r, usageErrorf("--label-smoothing %v: too small to change the training (the label's target, 1-%v, is 1 in the loss's 32-bit floats): give 0 for one-hot targets, or 3e-8 or more", r.LabelSmoothing, r.LabelSmoothing)
		}
		if r.LabelSmoothing == 0 {
			r.LabelSmoothing = 0 // -0 as 0, which the checkpoint records
		}
	}
	return r, nil
}

// recipeLabel names a run's recipe, with "+ changes" when flags overrode
// its parts.
func recipeLabel(cfg engine.TrainConfig, sched engine.ScheduleKind, lr float32) string {
	name := cfg.Recipe
	if name == "" {
		name = engine.ReferenceRecipe.Name
	}
	base, err := engine.ParseRecipe(name)
	if err != nil {
		return name
	}
	var diff []string
	if float32(base.LR) != lr {
		diff = append(diff, "--lr "+fmtLR(lr))
	}
	if base.Schedule != sched {
		diff = append(diff, "--schedule "+sched.String())
	}
	if base.Augment != cfg.Augmentation {
		diff = append(diff, "--augment "+engine.AugmentName(cfg.Augmentation))
	}
	if base.LabelSmoothing != cfg.LabelSmoothing {
		diff = append(diff, fmt.Sprintf("--label-smoothing %g", cfg.LabelSmoothing))
	}
	if len(diff) > 0 {
		return fmt.Sprintf("%s with %s", name, strings.Join(diff, ", "))
	}
	return name
}
