// export.go: `cnngpu export`: write a checkpoint's model as ONNX or as
// NumPy .npy files, never over the checkpoint itself, and replacing only
// earlier exports (or, with --force, any file).

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/export"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/urfave/cli/v2"
)

// version is the producer version written into exported models.
const version = "0.1.0"

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:         "export",
		Usage:        "write a checkpoint's model as ONNX (opset 13) or NumPy .npy files",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "checkpoint `FILE` to export (required)"},
			&cli.StringFlag{Name: "format", Value: "onnx", Usage: "onnx (one file) or npy (one file per tensor in the --out folder)"},
			&cli.StringFlag{Name: "out", Usage: "output `PATH`: a file (onnx) or folder (npy) (required); an existing file is replaced only when it is an earlier export (an ONNX model from cnngpu; for npy, any .npy file of a tensor's name)"},
			&cli.BoolFlag{Name: "force", Usage: "replace existing output files even when they are not earlier exports, or are read-only"},
		},
		Action: exportAction,
	}
}

func exportAction(c *cli.Context) error {
	path, out := c.String("model"), c.String("out")
	if path == "" || out == "" {
		return usageErrorf("export needs --model FILE and --out PATH")
	}
	force := c.Bool("force")
	var targets []string // the files export will write
	switch c.String("format") {
	case "onnx":
		if ext := strings.ToLower(filepath.Ext(out)); ext == ".npy" || ext == ".npz" {
			how := "--format npy writes one .npy file per tensor into a folder: give --format npy --out FOLDER"
			if !c.IsSet("format") {
				how = "without --format, export writes ONNX; " + how
			}
			return usageErrorf("--out %s: a NumPy file name for an ONNX model; %s", out, how)
		}
		if err := checkOutFile("--out", out, "model.onnx"); err != nil {
			return err
		}
		targets = []string{out}
	case "npy":
		switch ext := strings.ToLower(filepath.Ext(out)); ext {
		case ".npz":
			if _, err := os.Stat(out); err != nil {
				return usageErrorf("--out %s: a NumPy archive's name (.npz, which numpy.load opens as a file) for the folder that --format npy writes one .npy file per tensor into; give a folder name such as weights, and numpy.load each file in it", out)
			}
		case ".npy", ".onnx", ".safetensors":
			if _, err := os.Stat(out); err != nil {
				return usageErrorf("--out %s: a file name (%s) for the folder that --format npy writes one .npy file per tensor into; give a folder name such as weights", out, ext)
			}
		}
		if err := checkOutDir("--out", out); err != nil {
			return err
		}
		arch, _ := engine.NewArch("reference", engine.ReLU)
		for _, s := range arch.Params() {
			targets = append(targets, filepath.Join(out, s.Name+".npy"))
		}
	default:
		return usageErrorf("--format %q: expected onnx or npy", c.String("format"))
	}
	for _, t := range targets {
		if err := refuseSame("--out", t, "--model", path); err != nil {
			return err
		}
		if c.String("format") == "onnx" && strings.EqualFold(filepath.Ext(out), ".safetensors") {
			return usageErrorf("--out %s: a checkpoint's file name for an ONNX model (other commands would take it for a checkpoint); give a name such as model.onnx", out)
		}
		if err := checkReplace(t, c.String("format"), force); err != nil {
			return err
		}
	}
	if err := checkModelPath(c, path); err != nil {
		return err
	}
	ck, err := engine.LoadWeights(path) // the optimizer's state is not needed
	if err != nil {
		return modelError(path, err)
	}
	noteUnfinished(c.App.ErrWriter, path, ck)
	if c.String("format") == "npy" {
		paths, err := export.NPY(ck, out)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		for _, p := range paths {
			fmt.Fprintln(c.App.Writer, "wrote", lineName(p))
		}
		return nil
	}
	// An ONNX model whose outputs overflow would answer NaN in every
	// runtime: its forward pass tried first, on the CPU engine.
	e := cpu.New(1)
	defer e.Close()
	m, err := engine.NewInferenceModel(e, ck.Arch, ck.Params)
	if err == nil {
		err = probeOutputs(m)
	}
	if err != nil {
		return fmt.Errorf("--model %s: %w", path, err)
	}
	b, err := export.ONNX(ck, version)
	if err != nil {
		return err
	}
	undo, err := fileutil.MkdirAll(filepath.Dir(out), 0o755)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := fileutil.WriteAtomic(out, b, fileutil.KeepMode(out, 0o644)); err != nil {
		undo() // the folders made for it
		return fmt.Errorf("--out: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "wrote %s (%d bytes): input %q float32 [N,1,28,28] in [0,1], output %q [N,10]\n",
		lineName(out), len(b), export.ONNXInput, export.ONNXOutput)
	return nil
}

// checkReplace refuses, without --force, to replace an existing file at
// path that is read-only or is not an earlier export in format (an ONNX
// model with cnngpu as its producer, or a .npy file).
func checkReplace(path, format string, force bool) error {
	target := path
	st, err := os.Stat(path)
	if err != nil {
		return nil // nothing to replace (a bad folder was reported before)
	}
	// The name to change: the file's, or for npy the folder's (the
	// files' names are the tensors'); a link is followed, so its target
	// is what would be replaced, and is named.
	other := "choose another name"
	if format == "npy" {
		other = "choose another --out folder"
	}
	path, real := linkName(path)
	if !st.Mode().IsRegular() {
		return usageErrorf("--out: %s exists and is not a regular file; %s", path, other)
	}
	if fileutil.OthersInSticky(real, st) {
		return usageErrorf("--out: %s belongs to another user, in a folder with the sticky bit (such as /tmp), where this user cannot replace it, --force or not; %s, or have the file's owner move it away", path, other)
	}
	if force {
		return nil
	}
	if st.Mode().Perm()&0o222 == 0 {
		return usageErrorf("--out: %s is read-only (mode %04o); pass --force to replace it, or %s", path, st.Mode().Perm(), other)
	}
	f, err := os.Open(target)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	ours := false
	what := "an ONNX model exported by cnngpu"
	switch format {
	case "onnx":
		ours = export.IsOurONNX(head)
	case "npy":
		ours, what = bytes.HasPrefix(head, []byte("\x93NUMPY")), "a NumPy .npy file"
	}
	if !ours {
		return usageErrorf("--out: %s exists and is not %s; pass --force to replace it, or %s", path, what, other)
	}
	return nil
}
