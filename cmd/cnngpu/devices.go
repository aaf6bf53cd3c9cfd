// devices.go: `cnngpu devices`: the GPUs the NVIDIA driver sees, and which
// file of the driver, cuBLAS and cuDNN was loaded, from where and in which
// version (with the candidates passed over and why), or why there are none.
// The libraries are listed also when the driver does not start, so a
// machine can be set up before its GPU is visible.

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/cudnn"
	"github.com/cnngpu/cnngpu/internal/nvlib"
	"github.com/cnngpu/cnngpu/kernels"
	"github.com/urfave/cli/v2"
)

func devicesCommand() *cli.Command {
	return &cli.Command{
		Name:         "devices",
		Usage:        "list the GPUs, and which driver, cuBLAS, cuBLASLt and cuDNN files were loaded from where (exit 1 when no GPU can be used: none, or cuBLAS or cuDNN missing)",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object: the driver, each GPU (usable or why not), each library, and whether the GPU engine can start (the exit code as without it)"},
		},
		Action: func(c *cli.Context) error {
			rep := &devicesReport{GPUs: []gpuReport{}, Libraries: []libReport{}}
			out := c.App.Writer
			if c.Bool("json") {
				out = io.Discard
			}
			err := listDevices(c, out, rep)
			if c.Bool("json") {
				rep.Usable = err == nil
				if err != nil {
					rep.Error = withoutHint(err).Error()
				}
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				if jerr := enc.Encode(rep); jerr != nil && err == nil {
					return jerr
				}
			}
			return err
		},
	}
}

// devicesReport is what devices --json prints: what its text says, in
// fields.
type devicesReport struct {
	Driver    driverReport `json:"driver"`
	GPUs      []gpuReport  `json:"gpus"`
	Libraries []libReport  `json:"libraries"`
	// Usable: the GPU engine can start (a GPU it runs on, cuBLAS and
	// cuDNN usable); Error: why not, as the command's error says.
	Usable bool   `json:"usable"`
	Error  string `json:"error,omitempty"`
}

type driverReport struct {
	File  string `json:"file,omitempty"`
	CUDA  string `json:"cuda,omitempty"` // the CUDA version it supports, e.g. "13.0"
	Error string `json:"error,omitempty"`
}

type gpuReport struct {
	Index             int    `json:"index"`
	Name              string `json:"name,omitempty"`
	MemoryBytes       uint64 `json:"memory_bytes,omitempty"`
	ComputeCapability string `json:"compute_capability,omitempty"`
	Multiprocessors   int    `json:"multiprocessors,omitempty"`
	Usable            bool   `json:"usable"`
	Why               string `json:"why,omitempty"` // why it cannot be used
}

// libReport is a library the GPU engine loads: the file loaded, or why
// none (Error).
type libReport struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	File    string `json:"file,omitempty"`
	FoundIn string `json:"found_in,omitempty"`
	Error   string `json:"error,omitempty"`
}

// listDevices writes devices' text to out and fills rep; the error says
// why the GPU engine cannot start.
func listDevices(c *cli.Context, out io.Writer, rep *devicesReport) error {
	done := watchDriver(c.App.ErrWriter, "asking the NVIDIA driver for its GPUs")
	gpuErr := listGPUs(out, rep)
	done()
	// With no GPU to use, a library not found is said in a line: its
	// search and how to install it would read as the problem, where the
	// GPU is (said first).
	brief := gpuErr != nil
	blasErr := listLibrary(out, rep, "cuBLAS", cuda.BLASLibrary, cuda.BLASUsable, brief)
	listLt(out, rep)
	dnnErr := listLibrary(out, rep, "cuDNN", cudnn.Library, cudnn.Usable, brief)
	if gpuErr != nil {
		return gpuErr
	}
	var missing []string
	if blasErr != nil {
		missing = append(missing, "cuBLAS")
	}
	if dnnErr != nil {
		missing = append(missing, "cuDNN")
	}
	if len(missing) > 0 {
		return fmt.Errorf("the GPU engine cannot start without a usable %s (why: its lines in the list); until then train and the other commands run on the CPU where no --device is given", strings.Join(missing, " and "))
	}
	return nil
}

// listGPUs prints the driver's file and CUDA version and the GPUs; the
// error says why there is no GPU to use.
func listGPUs(out io.Writer, rep *devicesReport) error {
	file, ferr := cuda.DriverFile()
	v, err := cuda.DriverVersion()
	if ferr == nil {
		rep.Driver.File = file
	}
	if err != nil {
		rep.Driver.Error = withoutHint(err).Error()
		if ferr == nil {
			// Why, here too: standard error may not be shown.
			why := err.Error()
			if _, after, ok := strings.Cut(why, "did not start: "); ok {
				why = after
			}
			fmt.Fprintf(out, "NVIDIA driver: %s did not start (%s)\nno GPU can be used; the libraries below are those a GPU run would use\n", file, why)
		} else {
			// First, so that what follows reads as what a GPU run
			// would use once there is one.
			// (What to do is the error's, on standard error.)
			why := strings.TrimPrefix(withoutHint(err).Error(), "no NVIDIA driver: ")
			fmt.Fprintf(out, "NVIDIA driver: none (%s)\nno GPU can be used; the libraries below are those a GPU run would use\n", why)
		}
		return err
	}
	if v > 0 {
		rep.Driver.CUDA = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
	}
	if v > 0 && v < nvlib.MinDriver { // 0: not known, as the engine takes it
		rep.Driver.Error = "too old for cnngpu"
		fmt.Fprintf(out, "NVIDIA driver: %s, supports CUDA %d.%d: too old for cnngpu\nno GPU can be used; the libraries below are those a GPU run would use\n", file, v/1000, v%1000/10)
		return fmt.Errorf("the NVIDIA driver supports CUDA %d.%d, and cnngpu needs %s: update the driver (nvidia-smi shows its version); until then, train with --cpu",
			v/1000, v%1000/10, nvlib.MinDriverText)
	}
	if err := cuda.DriverUsable(); err != nil {
		rep.Driver.Error = withoutHint(err).Error()
		fmt.Fprintf(out, "NVIDIA driver: %s, supports CUDA %d.%d, but cannot run cnngpu's engine (%v)\nno GPU can be used; the libraries below are those a GPU run would use\n", file, v/1000, v%1000/10, err)
		return err
	}
	fmt.Fprintf(out, "NVIDIA driver: %s, supports CUDA %d.%d\n", file, v/1000, v%1000/10)
	devs, err := cuda.Devices()
	if err != nil {
		return err
	}
	major, minor, _ := cuda.Target(kernels.PTX)
	usable, old := 0, 0
	for _, d := range devs {
		if d.Err != nil {
			rep.GPUs = append(rep.GPUs, gpuReport{Index: d.Index, Why: "not described by the driver: " + d.Err.Error()})
			fmt.Fprintf(out, "GPU %d  not described by the driver: %v; it cannot be used (nvidia-smi shows its state)\n", d.Index, d.Err)
			continue
		}
		rep.GPUs = append(rep.GPUs, gpuReport{Index: d.Index, Name: d.Name, MemoryBytes: d.MemoryBytes,
			ComputeCapability: fmt.Sprintf("%d.%d", d.ComputeMajor, d.ComputeMinor), Multiprocessors: d.Multiprocessors})
		g := &rep.GPUs[len(rep.GPUs)-1]
		fmt.Fprintf(out, "GPU %d  %s  %.1f GiB  compute capability %d.%d  %d multiprocessors",
			d.Index, d.Name, float64(d.MemoryBytes)/(1<<30), d.ComputeMajor, d.ComputeMinor, d.Multiprocessors)
		if d.Older(major, minor) {
			old++
			g.Why = fmt.Sprintf("too old for cnngpu's kernels, which need %d.%d or newer", major, minor)
			fmt.Fprintf(out, "  (%s: it cannot be used)\n", g.Why)
			continue
		}
		if !kernels.HasSASS(d.ComputeMajor, d.ComputeMinor) && v > 0 && v < ptxDriver {
			// No SASS for it in the fatbin: the driver compiles the
			// kernels' PTX, which needs CUDA 11.8.
			old++
			g.Why = "its driver is too old to compile cnngpu's kernels for it: driver 520 or newer, CUDA 11.8, does"
			fmt.Fprintf(out, "  (%s: it cannot be used)\n", g.Why)
			continue
		}
		g.Usable = true
		usable++
		fmt.Fprintln(out)
	}
	switch {
	case len(devs) == 0:
		return fmt.Errorf("the driver sees no GPU; train with --cpu")
	case usable == 0 && old > 0:
		return fmt.Errorf("no GPU here can run cnngpu's kernels (compute capability %d.%d or newer, and on a Pascal GPU driver 520 or newer); train with --cpu", major, minor)
	case usable == 0:
		return fmt.Errorf("the driver sees %d GPU(s) but could describe none: check them with nvidia-smi (a reset or a reboot may be needed); until then, train with --cpu", len(devs))
	}
	return nil
}

// ptxDriver is the oldest driver (cuDriverGetVersion) that compiles our
// kernels' PTX (ISA 7.8: CUDA 11.8, driver 520), which a GPU without SASS
// in the fatbin needs.
const ptxDriver = 11080

// listLt prints which cuBLASLt file was loaded, or why none: without it
// the dense layers' products run on cuBLAS alone (nothing else is lost).
func listLt(out io.Writer, rep *devicesReport) {
	if _, err := cuda.BLASLibrary(); err != nil {
		return // said under cuBLAS
	}
	f, err := cuda.LtLibrary()
	if err != nil {
		rep.Libraries = append(rep.Libraries, libReport{Name: "cuBLASLt", Error: err.Error()})
		fmt.Fprintf(out, "%v\n  the dense layers' products run on cuBLAS alone, without fused epilogues\n", err)
		return
	}
	rep.Libraries = append(rep.Libraries, libReport{Name: "cuBLASLt", File: f})
	fmt.Fprintf(out, "cuBLASLt  %s  (beside cuBLAS: the dense layers' fused products)\n", f)
}

// listLibrary prints which file of a library was loaded and from where,
// the candidates passed over, or the search's error (brief: its first
// line alone, for a machine with no GPU to use).
func listLibrary(out io.Writer, rep *devicesReport, name string, load func() (*nvlib.Found, error), usable func() error, brief bool) error {
	f, err := load()
	if err != nil {
		// (Its first line: the search and what to install follow in
		// the text.)
		first, _, _ := strings.Cut(err.Error(), "\n")
		rep.Libraries = append(rep.Libraries, libReport{Name: name, Error: first})
		msg := err.Error()
		nf := (*nvlib.NotFoundError)(nil)
		if errors.As(err, &nf) && nf.DriverTooOld() {
			// Its first line says to update the driver: installing the
			// library would not help.
			first, _, _ := strings.Cut(msg, "\n")
			fmt.Fprintf(out, "%s: %s\n", name, first)
			return err
		}
		if first, _, cut := strings.Cut(msg, "\n"); brief && cut {
			where := "or set CNNGPU_LIBRARY_PATH to the folder that holds it"
			if d := os.Getenv("CNNGPU_LIBRARY_PATH"); d != "" {
				where = "or put a usable one in CNNGPU_LIBRARY_PATH's " + lineName(d)
			}
			msg = strings.TrimSuffix(first, ".") + " (needed once a GPU works: then install it, docs/gpu.md, " + where + ")"
			// The files found but not used, with why (one in
			// CNNGPU_LIBRARY_PATH's folder that is damaged, say).
			if nf != nil {
				for _, t := range nf.TriedLines() {
					msg += "\n  not used: " + t
				}
			}
		}
		fmt.Fprintf(out, "%s: %s\n", name, msg)
		return err
	}
	rep.Libraries = append(rep.Libraries, libReport{Name: name, Version: f.Version, File: f.File(), FoundIn: f.Place})
	fmt.Fprintln(out, f.String())
	for _, line := range f.Report() {
		fmt.Fprintf(out, "  %s\n", line)
	}
	if err := usable(); err != nil {
		rep.Libraries[len(rep.Libraries)-1].Error = "cannot be used: " + withoutHint(err).Error()
		// Found, but the engine could not start on it (what it lacks,
		// without the hint to use --cpu, said at the end).
		fmt.Fprintf(out, "  but it cannot be used: %v\n", withoutHint(err))
		return err
	}
	return nil
}
