// eval.go: `cnngpu eval`: test accuracy, loss, per-class accuracy and the
// confusion matrix of a checkpoint.

package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/shown"
	"github.com/cnngpu/cnngpu/internal/trace"
	"github.com/urfave/cli/v2"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:         "eval",
		Usage:        "evaluate a checkpoint on MNIST's 10,000 test images (or --data's test set)",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "checkpoint `FILE` to evaluate (required)"},
			cpuFlag, deviceFlag, precisionFlag, threadsFlag, dataFlag,
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of tables"},
		},
		Action: evalAction,
	}
}

type evalReport struct {
	Model         string                              `json:"model"`
	Engine        string                              `json:"engine"`
	Images        int                                 `json:"images"`
	Accuracy      float64                             `json:"accuracy"`
	Loss          float64                             `json:"loss"`
	ClassAccuracy [engine.Classes]*float64            `json:"class_accuracy"` // null: no test image of the digit
	Confusion     [engine.Classes][engine.Classes]int `json:"confusion"`
	// How far the checkpoint's run trained: whole epochs, steps into the
	// next (an interrupted run's), of the epochs it was to train;
	// cut_short where that is less than the whole run and no training
	// writes the file now; training_now where one does (the run under
	// way, not cut short; for a finished run, one trained further or a
	// new one that will replace it).
	Arch          string `json:"arch"`
	Activation    string `json:"activation"`
	EpochsTrained int    `json:"epochs_trained"`
	StepsInEpoch  int    `json:"steps_into_next_epoch"`
	Epochs        int    `json:"epochs"`
	CutShort      bool   `json:"cut_short"`
	TrainingNow   bool   `json:"training_now"`
}

// MarshalJSON adds model_base64 where the model's name is not UTF-8, as
// predict gives file_base64.
func (r evalReport) MarshalJSON() ([]byte, error) {
	type plain evalReport
	return json.Marshal(struct {
		plain
		ModelBase64 string `json:"model_base64,omitempty"`
	}{plain(r), nameBase64(r.Model)})
}

// paramSummary lists the checkpoint's tensors with their shapes, e.g.
// "conv1.weight 32x1x3x3, conv1.bias 32, ... (3165826 in all)".
func paramSummary(ck *engine.Checkpoint) string {
	var parts []string
	total := 0
	for _, p := range ck.Arch.Params() {
		dims := make([]string, len(p.Shape))
		for i, d := range p.Shape {
			dims[i] = fmt.Sprint(d)
		}
		parts = append(parts, p.Name+" "+strings.Join(dims, "x"))
		total += p.Len()
	}
	return fmt.Sprintf("%s (%d in all)", strings.Join(parts, ", "), total)
}

func evalAction(c *cli.Context) (err error) {
	// (Refused before the GPU is looked for: its note would come first.)
	if err := checkDataFlag(c); err != nil {
		return err
	}
	m, e, ck, err := loadModel(c)
	if err != nil {
		return err
	}
	defer closeEngine(e, c.App.ErrWriter, &err)
	path := c.String("model")
	// Whether a training writes the checkpoint now: asked as it is read,
	// not after the test (one that finished meanwhile would be called
	// cut short, with a --resume that train refuses).
	who := trainingNow(path)
	// Ctrl-C during a first run's download: said, and the go command's
	// temporary folder removed (the signal's default left both undone).
	ctx, stop := interruptContext(c.Context, c.App.ErrWriter)
	data, err := loadTestSet(ctx, c, c.App.ErrWriter)
	stop()
	if err != nil {
		return err
	}
	test, err := engine.UploadDataset(e, data.Images.Pixels, data.Labels)
	if err != nil {
		return err
	}
	ev := trace.Begin(trace.TestEval)
	watched := watchGPU(c.App.ErrWriter, e, "testing the model")
	res, err := engine.Evaluate(m, test, engine.AllIndices(data.N()), 0, true)
	watched()
	ev.End()
	if err != nil {
		return err
	}
	if !engine.IsFinite(res.Loss) {
		return fmt.Errorf("%s: the test loss is %v: %w (its weights are too large for the arithmetic; retrain it with a smaller --lr)%s", path, res.Loss, engine.ErrNonFinite, gpuNaNHint(e))
	}
	r := evalReport{Model: path, Engine: e.Name(), Images: res.N, Accuracy: res.Acc, Loss: res.Loss, Confusion: res.Confusion,
		Arch: ck.Arch.Preset, Activation: ck.Arch.Act.String(), EpochsTrained: ck.Position.Epoch, StepsInEpoch: ck.Position.Step,
		Epochs: ck.Config.Epochs, TrainingNow: who != "", CutShort: unfinished(ck) && who == ""}
	for i := range r.ClassAccuracy {
		total := 0
		for _, n := range res.Confusion[i] {
			total += n
		}
		if total > 0 {
			a := float64(res.Confusion[i][i]) / float64(total)
			r.ClassAccuracy[i] = &a
		}
	}
	out := c.App.Writer
	if c.Bool("json") {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	trained := howFar(ck.Position)
	switch {
	case unfinished(ck) && who != "":
		trained += fmt.Sprintf(" of its %d, which %s is training now", ck.Config.Epochs, who)
	case unfinished(ck):
		// As the JSON's cut_short says: the run was to train more.
		trained += fmt.Sprintf(", cut short of its %d: it continues with %s", ck.Config.Epochs, continueCommand(path, ck))
	case who != "":
		// A finished run that train --resume --epochs extends, or that
		// a new run's first epoch will replace.
		trained += fmt.Sprintf("; %s is training into it now (from it, or a new run that replaces it)", who)
	}
	fmt.Fprintf(out, "model %s (%s, %s, trained %s) on %s\n", path, ck.Arch.Preset, ck.Arch.Act, trained, e.Name())
	fmt.Fprintf(out, "parameters: %s\n", paramSummary(ck))
	fmt.Fprintf(out, "test accuracy %s  loss %.4f  (%s)\n\n", percent(r.Accuracy), r.Loss, shown.Count(r.Images, "image"))
	fmt.Fprintln(out, "per-class accuracy:")
	for i, a := range r.ClassAccuracy {
		if a == nil {
			fmt.Fprintf(out, "  %d  –  (no test image of this digit)\n", i)
			continue
		}
		fmt.Fprintf(out, "  %d  %s\n", i, percent(*a))
	}
	fmt.Fprintln(out, "\nconfusion matrix (rows: true digit, columns: predicted):")
	var sb strings.Builder
	sb.WriteString("      ")
	for j := 0; j < engine.Classes; j++ {
		fmt.Fprintf(&sb, "%6d", j)
	}
	sb.WriteString("\n")
	for i := 0; i < engine.Classes; i++ {
		fmt.Fprintf(&sb, "  %d : ", i)
		for j := 0; j < engine.Classes; j++ {
			fmt.Fprintf(&sb, "%6d", r.Confusion[i][j])
		}
		sb.WriteString("\n")
	}
	fmt.Fprint(out, sb.String())
	return nil
}
