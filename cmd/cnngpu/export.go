// export.go: `cnngpu export`: write a checkpoint's model as ONNX or as
// NumPy .npy files.

package main

import (
	"fmt"

	"github.com/cnngpu/cnngpu/engine"
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
			&cli.StringFlag{Name: "model", Usage: "checkpoint to export (required)"},
			&cli.StringFlag{Name: "format", Value: "onnx", Usage: "onnx (one file) or npy (one file per tensor in the --out folder)"},
			&cli.StringFlag{Name: "out", Usage: "output file (onnx) or folder (npy) (required)"},
		},
		Action: func(c *cli.Context) error {
			path, out := c.String("model"), c.String("out")
			if path == "" || out == "" {
				return usageErrorf("export needs --model FILE and --out PATH")
			}
			ck, err := engine.LoadCheckpoint(path)
			if err != nil {
				return err
			}
			switch c.String("format") {
			case "onnx":
				b, err := export.ONNX(ck, version)
				if err != nil {
					return err
				}
				if err := fileutil.WriteAtomic(out, b, 0o644); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				fmt.Fprintf(c.App.Writer, "wrote %s (%d bytes): input %q float32 [N,1,28,28] in [0,1], output %q [N,10]\n",
					out, len(b), export.ONNXInput, export.ONNXOutput)
			case "npy":
				paths, err := export.NPY(ck, out)
				if err != nil {
					return err
				}
				for _, p := range paths {
					fmt.Fprintln(c.App.Writer, "wrote", p)
				}
			default:
				return usageErrorf("--format %q: expected onnx or npy", c.String("format"))
			}
			return nil
		},
	}
}
