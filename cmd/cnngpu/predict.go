// predict.go: `cnngpu predict`: classify image files (any size, PNG, JPEG
// or GIF; "-" is standard input) or a whole IDX image file.

package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/shell"
	"github.com/cnngpu/cnngpu/internal/shown"
	"github.com/cnngpu/cnngpu/internal/trace"
	"github.com/cnngpu/cnngpu/loader"
	"github.com/cnngpu/cnngpu/server"
	"github.com/cnngpu/cnngpu/tune"
	"github.com/urfave/cli/v2"
)

func predictCommand() *cli.Command {
	return &cli.Command{
		Name:         "predict",
		Usage:        "classify image files (PNG, JPEG, GIF; '-' reads standard input) or an IDX image file",
		ArgsUsage:    "IMAGE...",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "checkpoint `FILE` to use (required)"},
			predictCPUFlag, predictDeviceFlag, precisionFlag, threadsFlag,
			&cli.StringFlag{Name: "idx", Usage: "classify every image of IDX `FILE` (raw or .gz, 28x28, used as MNIST pixels without preprocessing)"},
			&cli.StringFlag{Name: "labels", Usage: "with --idx: IDX label `FILE` to report accuracy against"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per image"},
		},
		Action: predictAction,
	}
}

// cpuPredictMax is the most image files that predict classifies on the
// CPU engine when no engine is asked for: a GPU takes longer to start
// than the CPU takes for them (on the H200 machine, cuInit and the
// context alone took 0.21 s in run 18; on the 2-core VM, shared with other
// work, the CPU engine's forward pass took 0.12 to 0.26 ms an image,
// CNNGPU_TRACE's "classifying" row for 500 and 10,000 images; reading and
// preparing the files is the same work on either engine, 1.1 ms for a
// 200x200 PNG there).
const cpuPredictMax = 1000

// predict's --cpu and --device say its own default.
var (
	predictCPUFlag    = &cli.BoolFlag{Name: "cpu", Usage: "run on the CPU engine; without --cpu or --device: " + predictEngineDefault}
	predictDeviceFlag = &cli.IntFlag{Name: "device", Usage: deviceFlag.Usage, DefaultText: predictEngineDefault}
)

var predictEngineDefault = fmt.Sprintf("the CPU for up to %d image files, sooner than a GPU starts (unless --precision tf32, the GPU's); else GPU 0 when one works, else the CPU", cpuPredictMax)

// prediction is one image's result: the file or index it is for, and the
// ranked probabilities (the same JSON as the server's answer).
type prediction struct {
	File string `json:"file,omitempty"`
	// FileBase64 is the file's name, byte for byte, where it is not
	// UTF-8, which a JSON string cannot hold (File has U+FFFD there).
	FileBase64 string `json:"file_base64,omitempty"`
	Index      *int   `json:"index,omitempty"`
	// Label is the image's label, with --idx and --labels.
	Label *int `json:"label,omitempty"`
	server.Result
}

func makePrediction(p []float32) prediction { return prediction{Result: server.NewResult(p)} }

// modelError is --model's checkpoint, path, failing to load.
func modelError(path string, err error) error {
	return fmt.Errorf("--model: %w", missingCheckpoint(path, err))
}

// missingCheckpoint is err, the checkpoint at path failing to load, with
// what to do where there is no such file: wait for the training that
// writes it now, in its first epoch; start again where its first write
// was cut short (a temporary file of it left); else give one train wrote.
func missingCheckpoint(path string, err error) error {
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if who := trainingNow(path); who != "" {
		return fmt.Errorf("%w\n%s is training into it and has not finished its first epoch: wait for it", err, who)
	}
	if tmp := fileutil.LeftTemp(path); tmp != "" {
		return fmt.Errorf("%w\nits first write was cut short: %s is what a process stopped while writing it left; there is no checkpoint: run the training again, from its start", err, tmp)
	}
	return fmt.Errorf("%w\nhint: give a checkpoint that train wrote (train names it when it ends or is interrupted; make run writes runs/model.safetensors)", err)
}

// loadModel builds a model for inference from a checkpoint.
func loadModel(c *cli.Context) (*engine.Model, engine.Engine, *engine.Checkpoint, error) {
	return loadModelOn(c, "")
}

// loadModelOn is loadModel on engineFor's engine (cpuFirst: see there).
func loadModelOn(c *cli.Context, cpuFirst string) (*engine.Model, engine.Engine, *engine.Checkpoint, error) {
	if err := checkLoadFlags(c); err != nil {
		return nil, nil, nil, err
	}
	path := c.String("model")
	ck, err := engine.LoadWeights(path) // the optimizer's state is not needed
	if err != nil {
		return nil, nil, nil, modelError(path, err)
	}
	if c.Command.Name != "eval" { // eval says how far it trained in its report
		noteUnfinished(c.App.ErrWriter, path, ck)
	}
	e, err := engineFor(c, c.App.ErrWriter, false, cpuFirst)
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := engine.NewInferenceModel(e, ck.Arch, ck.Params)
	if err != nil {
		e.Close()
		return nil, nil, nil, err
	}
	return m, e, ck, nil
}

// checkLoadFlags is what loadModel refuses before reading anything (exit
// 2): no --model, a --model that is standard input, engine flags wrong in
// themselves. The flags first, then the file (1), as train does.
func checkLoadFlags(c *cli.Context) error {
	path := c.String("model")
	if path == "" {
		for _, a := range c.Args().Slice() {
			if isCheckpointFile(a) {
				return usageErrorf("%s needs --model FILE (a checkpoint written by 'cnngpu train'); %s is one: give it as --model %s", c.Command.Name, a, shell.Path(a))
			}
		}
		return usageErrorf("%s needs --model FILE (a checkpoint written by 'cnngpu train')", c.Command.Name)
	}
	if err := checkModelPath(c, path); err != nil {
		return err
	}
	return checkEngineFlags(c)
}

// checkModelPath refuses a --model that is standard input: '-' (a
// checkpoint is read from a file), or /dev/stdin where an image is to be
// read from standard input too ('-').
func checkModelPath(c *cli.Context, path string) error {
	if path == "-" {
		return usageErrorf("--model -: a checkpoint is read from a file, not standard input ('-'): give the file 'cnngpu train' wrote (--out)")
	}
	if path == "/dev/stdin" || path == "/proc/self/fd/0" || path == "/dev/fd/0" {
		if slices.Contains(c.Args().Slice(), "-") {
			return usageErrorf("--model %s and the image '-' both read standard input: give the checkpoint's file name", path)
		}
	}
	return checkpointNotFolder("--model", path)
}

// checkpointNotFolder refuses a folder given as a checkpoint (flag), as a
// flag's value of the wrong kind: exit 2.
func checkpointNotFolder(flag, path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		if final := filepath.Join(path, tune.FinalModel); flag == "--model" && fileExists(final) && fileExists(filepath.Join(path, tune.SpecFile)) {
			return usageErrorf("%s %s: is a folder, a study's: its final model is %s", flag, path, final)
		}
		return usageErrorf("%s %s: is a folder; give the checkpoint file 'cnngpu train' wrote (its --out)", flag, path)
	}
	return nil
}

// noteUnfinished says on w when the checkpoint at path holds a run cut
// short (fewer epochs than it was to train, or in the middle of one:
// interrupted, or diverged and kept at its last finite epoch): its model
// answers, but below what the whole run would give.
func noteUnfinished(w io.Writer, path string, ck *engine.Checkpoint) {
	if !unfinished(ck) {
		return
	}
	if who := trainingNow(path); who != "" {
		fmt.Fprintf(w, "note: %s holds a run after %s of %d, which %s is training now: its answers are below what the whole run will give\n",
			path, howFar(ck.Position), ck.Config.Epochs, who)
		return
	}
	fmt.Fprintf(w, "note: %s holds a run cut short after %s of %d: its answers are below what the whole run gives (an interrupted run continues with %s)\n",
		path, howFar(ck.Position), ck.Config.Epochs, continueCommand(path, ck))
}

// trainingNow names the process that trains into the checkpoint at path
// now (its output lock held), or is "": such a run is not cut short but
// under way, written again after each epoch, and a command to continue
// it would be refused.
func trainingNow(path string) string {
	_, lock := outputLock(path)
	if holder, held := fileutil.HeldBy(lock); held {
		return fileutil.AnotherProcess(holder)
	}
	return ""
}

// continueCommand is the command that resumes the run whose checkpoint
// ck, at path, was cut short: with the --data folder it trained on where
// that is not the cache (a resume on other data is refused).
func continueCommand(path string, ck *engine.Checkpoint) string {
	return shell.Command("train --resume " + shell.Path(path) + loader.DataFlag(ck.Config.DataDir))
}

// unfinished tells whether the checkpoint holds a run cut short: fewer
// epochs than it was to train, or in the middle of one.
func unfinished(ck *engine.Checkpoint) bool {
	return ck.Config.Epochs >= 1 && ck.Position.Epoch < ck.Config.Epochs
}

// howFar says how far a run trained: "3 epochs", or "3 epochs and 120
// steps of epoch 4" for one saved in the middle of an epoch.
func howFar(p engine.Position) string {
	at := shown.Count(p.Epoch, "epoch")
	if p.Step > 0 {
		at += fmt.Sprintf(" and %s of epoch %d", shown.Count(p.Step, "step"), p.Epoch+1)
	}
	return at
}

func predictAction(c *cli.Context) (err error) {
	idx := c.String("idx")
	stdin := 0
	for _, a := range c.Args().Slice() {
		if a == "-" {
			stdin++
		}
	}
	if err := emptyArg(c, "predict", "image files (PNG, JPEG, GIF; '-' for standard input)"); err != nil {
		return err
	}
	if err := emptyFlag(c, "idx", "an IDX image file (raw or .gz), e.g. --idx ~/.cache/cnngpu/mnist/t10k-images-idx3-ubyte.gz", "to classify image files"); err != nil {
		return err
	}
	if err := emptyFlag(c, "labels", "the IDX label file of the --idx images (raw or .gz)", "for no accuracy"); err != nil {
		return err
	}
	modelErr := checkModelPath(c, c.String("model")) // before --idx is read
	switch {
	case idx != "" && c.NArg() > 0:
		return usageErrorf("give either --idx FILE or image files, not both")
	case idx == "" && c.IsSet("labels"):
		return usageErrorf("--labels gives the labels of an --idx image file: it needs --idx")
	case idx == "" && c.NArg() == 0:
		return usageErrorf("predict needs image files (or '-' for standard input, or --idx FILE)")
	case stdin > 1:
		return usageErrorf("'-' (standard input) can be given once: it is read to its end")
	case modelErr != nil:
		return modelErr
	case idx == "-" || c.String("labels") == "-":
		return usageErrorf("--idx and --labels read files, not standard input ('-'): give the IDX file's name (raw or .gz), e.g. --idx ~/.cache/cnngpu/mnist/t10k-images-idx3-ubyte.gz")
	}
	// The flags first (exit 2), then the files (1).
	if err := checkEngineFlags(c); err != nil {
		return err
	}
	var set *idxSet
	if idx != "" {
		// The files first: a wrong one is named before the model loads.
		var err error
		if set, err = readIDXSet(idx, c.String("labels"), c.String("model")); err != nil {
			return err
		}
	}
	files := expandNames(c.Args().Slice())
	cpuFirst := ""
	if set == nil && len(files) <= cpuPredictMax {
		cpuFirst = shown.Count(len(files), "image") + " take less time on it than a GPU takes to start"
		if len(files) == 1 {
			cpuFirst = "one image takes less time on it than a GPU takes to start"
		}
	}
	m, e, _, err := loadModelOn(c, cpuFirst)
	if err != nil {
		return err
	}
	defer closeEngine(e, c.App.ErrWriter, &err)
	if set != nil {
		return predictIDX(c, m, set)
	}
	out := bufio.NewWriter(c.App.Writer)
	enc := json.NewEncoder(out)
	rd := trace.Begin(trace.ReadImages)
	inputs, errs := readDigits(files, c.Int("threads"))
	rd.End()
	var batch []float32
	for i := range files {
		if errs[i] == nil {
			batch = append(batch, inputs[i]...)
		}
	}
	var probs []float32
	if len(batch) > 0 {
		cl := trace.Begin(trace.Classify)
		probs, err = m.Predict(batch)
		cl.End()
		if err != nil {
			return err
		}
		if err := engine.CheckOutputs(probs); err != nil {
			return fmt.Errorf("%s: %w%s", c.String("model"), err, gpuNaNHint(m.E))
		}
	}
	failed, unsure, k := 0, 0, 0
	for i, f := range files {
		if errs[i] != nil {
			failed++
			out.Flush() // the lines before it first, on a terminal
			fmt.Fprintf(c.App.ErrWriter, "cnngpu: %s: %v\n", lineName(f), errs[i])
			if c.Bool("json") {
				line := map[string]string{"file": f, "error": errs[i].Error()}
				if b := nameBase64(f); b != "" {
					line["file_base64"] = b
				}
				enc.Encode(line)
			}
			continue
		}
		p := makePrediction(probs[k*engine.Classes : (k+1)*engine.Classes])
		k++
		p.File, p.FileBase64 = f, nameBase64(f)
		if p.Unsure {
			unsure++
		}
		if c.Bool("json") {
			enc.Encode(p)
			continue
		}
		mark := ""
		if p.Unsure {
			mark = ", unsure"
		}
		fmt.Fprintf(out, "%s: %d (%s%s)  top 3: %d %s, %d %s, %d %s\n", lineName(f), p.Digit, probText(p.Probability), mark,
			p.Top3[0].Digit, probText(p.Top3[0].Probability), p.Top3[1].Digit, probText(p.Top3[1].Probability), p.Top3[2].Digit, probText(p.Top3[2].Probability))
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("writing the predictions: %w", err)
	}
	if unsure > 0 && !c.Bool("json") { // (--json: each object's "unsure")
		fmt.Fprintln(c.App.ErrWriter, unsureNote(unsure, len(files)-failed, failed > 0))
	}
	if failed > 0 {
		for _, err := range errs {
			if h := permissionHint(err); h != "" {
				fmt.Fprintln(c.App.ErrWriter, h) // once, for the files it refused
				break
			}
		}
		return fmt.Errorf("%d of %d images could not be classified", failed, len(files))
	}
	return nil
}

// nameBase64 is a file name that is not UTF-8, in base64 (its bytes, which
// a JSON string cannot hold); "" for a UTF-8 name.
func nameBase64(name string) string {
	if utf8.ValidString(name) {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(name))
}

// lineName is a file name as predict's lines show it: quoted as Go
// quotes a string where it holds a control character (a newline in a
// name would start a line of its own, as if another file's result), a
// bidirectional override (which reorders what follows it on a terminal)
// or bytes that are not UTF-8.
func lineName(f string) string {
	if !utf8.ValidString(f) || strings.ContainsFunc(f, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }) {
		return strconv.Quote(f)
	}
	return f
}

// isCheckpointFile tells whether the file at path starts as a cnngpu
// checkpoint (for a checkpoint given among the images).
func isCheckpointFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return false
	}
	head := make([]byte, 1<<16)
	n, _ := io.ReadFull(f, head)
	return engine.LooksLikeCheckpoint(head[:n])
}

// readDigits reads and prepares image files (see readDigit): standard
// input and anything else that is not a regular file (a pipe, a device)
// first, one at a time in order, as a stream is read; then the regular
// files several at once, up to one a core (or threads, where that is not
// 0: --threads), at most 8 (a file is read whole, up to 20 MB, before its
// decode takes its memory from the loader's budget).
func readDigits(files []string, threads int) ([][]float32, []error) {
	inputs := make([][]float32, len(files))
	errs := make([]error, len(files))
	var regular []int
	for i, f := range files {
		if errs[i] = unmatched(f); errs[i] != nil {
			continue
		}
		if st, err := os.Stat(f); f != "-" && (err != nil || st.Mode().IsRegular()) {
			regular = append(regular, i) // a file that fails to open fails there
			continue
		}
		inputs[i], errs[i] = readDigit(f)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	if threads > 0 {
		workers = threads
	}
	for range min(workers, 8, len(regular)) {
		wg.Go(func() {
			for k := int(next.Add(1) - 1); k < len(regular); k = int(next.Add(1) - 1) {
				i := regular[k]
				inputs[i], errs[i] = readImage(files[i])
			}
		})
	}
	wg.Wait()
	return inputs, errs
}

// readImage is readDigit where readDigits reads the regular files (a
// test's stand-in otherwise).
var readImage = readDigit

// readDigit reads one image file ("-" for standard input) and prepares it.
func readDigit(name string) ([]float32, error) {
	r := io.Reader(os.Stdin)
	size := int64(-1) // a plain file's size
	waited := false   // a named pipe's open waited for a writer
	if name != "-" {
		// A named pipe that no writer opens is given up after a while.
		f, w, err := fileutil.OpenRead(name)
		if err != nil {
			return nil, unwrapPath(err) // the line names the file
		}
		defer f.Close()
		st, err := f.Stat()
		switch {
		case err != nil:
		case st.IsDir():
			return nil, errors.New("is a folder, not an image")
		case st.Mode()&fs.ModeDevice != 0:
			return nil, errors.New("is a device, not an image file")
		case st.Mode().IsRegular():
			size = st.Size()
		}
		r, waited = f, w
	}
	data, err := io.ReadAll(io.LimitReader(r, loader.MaxImageBytes+1))
	if err != nil {
		return nil, err
	}
	switch {
	case name == "-" && len(data) == 0:
		return nil, errors.New("standard input is empty: give an image on it (cnngpu predict --model FILE - < digit.png)")
	case waited && len(data) == 0:
		return nil, unwrapPath(fileutil.NoWriter(name))
	}
	if engine.LooksLikeCheckpoint(data) {
		if name == "-" {
			return nil, errors.New("standard input holds a cnngpu checkpoint, not an image: give the checkpoint's file as --model FILE")
		}
		return nil, fmt.Errorf("is a cnngpu checkpoint, not an image: give it as --model %s", shell.Path(name))
	}
	if size > loader.MaxImageBytes {
		return nil, loader.TooLargeError(size)
	}
	return loader.DecodeDigit(data)
}

// idxSet is an IDX image file to classify, with its labels where given.
type idxSet struct {
	im     *loader.Images
	labels []uint8 // nil without --labels
}

// readIDXSet reads and checks --idx and --labels (labelsPath "": none);
// model is --model, for a hint.
func readIDXSet(path, labelsPath, model string) (*idxSet, error) {
	for _, f := range [][2]string{{"--idx", path}, {"--labels", labelsPath}} {
		if st, err := os.Stat(f[1]); f[1] != "" && err == nil && st.IsDir() {
			return nil, usageErrorf("%s %s: is a folder; give an IDX file (such as MNIST's t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, or their .gz)", f[0], f[1])
		}
	}
	raw, err := fileutil.ReadFile(path, loader.MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("--idx: %w", err)
	}
	im, err := loader.ParseImages(path, raw)
	if err != nil && loader.IsImage(raw) {
		m := "FILE" // --model not given yet
		if model != "" {
			m = shell.Path(model)
		}
		return nil, fmt.Errorf("--idx: %v: give image files without --idx (%s)", err, shell.Command("predict --model "+m+" "+shell.Path(path)))
	}
	if err != nil {
		return nil, fmt.Errorf("--idx: %w", err)
	}
	if im.N == 0 {
		return nil, fmt.Errorf("--idx %s: the file holds no images (its header counts 0): nothing to classify", path)
	}
	set := &idxSet{im: im}
	if labelsPath != "" {
		raw, err := fileutil.ReadFile(labelsPath, loader.MaxFileBytes)
		if err != nil {
			return nil, fmt.Errorf("--labels: %w", err)
		}
		lb, err := loader.ParseLabels(labelsPath, raw)
		if err != nil {
			return nil, fmt.Errorf("--labels: %w", err)
		}
		if lb.N != im.N {
			return nil, fmt.Errorf("--labels %s has %s for the %s of --idx %s: give the label file that goes with those images (MNIST's test images go with t10k-labels-idx1-ubyte)",
				labelsPath, shown.Count(lb.N, "label"), shown.Count(im.N, "image"), path)
		}
		set.labels = lb.Values
	}
	return set, nil
}

// predictChunk is how many images of an IDX file are classified before
// their lines are printed: output starts at once, and a progress line
// (stderr a terminal, stdout not) shows how far a large file has got.
const predictChunk = 2048

func predictIDX(c *cli.Context, m *engine.Model, set *idxSet) error {
	im, labels := set.im, set.labels
	// Each chunk's lines are written at once, after the chunk: a reader
	// (a pipe) never gets half a line, also when the command is stopped
	// (Ctrl-C, SIGTERM: it stops between chunks, saying how far it got).
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	ctx, stop := interruptContext(c.Context, c.App.ErrWriter)
	defer stop()
	showProgress := !isTerminal(os.Stdout) && isTerminal(os.Stderr)
	x := make([]float32, min(predictChunk, im.N)*engine.ImagePixels)
	correct, unsure, unsureRight := 0, 0, 0
	for lo := 0; lo < im.N; lo += predictChunk {
		if ctx.Err() != nil {
			if showProgress {
				fmt.Fprint(c.App.ErrWriter, "\r\033[K")
			}
			return withCode(130, fmt.Errorf("interrupted after %d of %d images; every line printed is whole", lo, im.N))
		}
		k := min(predictChunk, im.N-lo)
		for i, v := range im.Pixels[lo*engine.ImagePixels : (lo+k)*engine.ImagePixels] {
			x[i] = float32(v) / 255
		}
		cl := trace.Begin(trace.Classify)
		probs, err := m.Predict(x[:k*engine.ImagePixels])
		cl.End()
		if err == nil {
			if err = engine.CheckOutputs(probs); err != nil {
				err = fmt.Errorf("%s: %w%s", c.String("model"), err, gpuNaNHint(m.E))
			}
		}
		if err != nil {
			if showProgress {
				fmt.Fprint(c.App.ErrWriter, "\r\033[K")
			}
			if lo > 0 {
				// What stands printed (as after Ctrl-C).
				err = fmt.Errorf("%w\nstopped after %d of %d images; every line printed is whole", err, lo, im.N)
			}
			return err
		}
		for j := 0; j < k; j++ {
			i := lo + j
			p := makePrediction(probs[j*engine.Classes : (j+1)*engine.Classes])
			right := labels != nil && p.Digit == int(labels[i])
			if right {
				correct++
			}
			if p.Unsure {
				unsure++
				if right {
					unsureRight++
				}
			}
			if c.Bool("json") {
				idx := i
				p.Index = &idx
				if labels != nil {
					l := int(labels[i])
					p.Label = &l
				}
				enc.Encode(p)
			} else {
				fmt.Fprintf(&out, "%d %d %.4f\n", i, p.Digit, shown.Under(float64(p.Probability), server.UnsureBelow, 1e-4))
			}
		}
		if _, err := c.App.Writer.Write(out.Bytes()); err != nil {
			return fmt.Errorf("writing the predictions: %w", err)
		}
		out.Reset()
		if showProgress {
			fmt.Fprintf(c.App.ErrWriter, "\r\033[Kclassified %d of %d images", lo+k, im.N)
		}
	}
	if showProgress {
		fmt.Fprint(c.App.ErrWriter, "\r\033[K")
	}
	switch {
	case labels != nil && unsure > 0:
		// How far the mark is to be trusted, on the images at hand.
		rest := ""
		if sure := im.N - unsure; sure > 0 {
			rest = fmt.Sprintf("; the other %d: %.2f%% right", sure, 100*float64(correct-unsureRight)/float64(sure))
		}
		right := fmt.Sprintf("%d of them right", unsureRight)
		switch {
		case unsure == 1 && unsureRight == 1:
			right = "and right"
		case unsure == 1:
			right = "and wrong"
		}
		fmt.Fprintf(c.App.ErrWriter, "accuracy %.2f%% (%d of %d); %d read unsure (the digit under %.0f%%), %s%s\n",
			100*float64(correct)/float64(im.N), correct, im.N, unsure, 100*server.UnsureBelow, right, rest)
	case labels != nil:
		fmt.Fprintf(c.App.ErrWriter, "accuracy %.2f%% (%d of %d)\n", 100*float64(correct)/float64(im.N), correct, im.N)
	case unsure > 0 && !c.Bool("json"):
		fmt.Fprintln(c.App.ErrWriter, unsureNote(unsure, im.N, false))
	}
	return nil
}

// probText is probability p as predict shows it, "41.2%": to a tenth, but
// rounded down where rounding would make a probability under 50% (an
// unsure read) show as 50.0%.
func probText(p float32) string {
	return fmt.Sprintf("%.1f%%", shown.Under(100*float64(p), 100*server.UnsureBelow, 0.1))
}

// unsureNote says that n of the classified images read unsure (refused:
// some images given were not classified).
func unsureNote(n, classified int, refused bool) string {
	var which string
	switch {
	case classified == 1 && refused:
		which = "the one image classified"
	case classified == 1:
		which = "the image"
	case refused:
		which = fmt.Sprintf("%d of the %d images classified", n, classified)
	default:
		which = fmt.Sprintf("%d of %d images", n, classified)
	}
	return fmt.Sprintf("note: %s read unsure: the model gives the digit less than even odds (under %.0f%%); "+
		"such an image may hold no digit, or one not clearly written", which, 100*server.UnsureBelow)
}
