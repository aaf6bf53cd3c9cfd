// tunejobs.go: the engines of `cnngpu tune`: --jobs-per-device N engines on
// each GPU of --devices (or on the GPU --device or the default picks), each
// training one configuration at a time beside the others and all of one
// GPU reading one upload of the training images; with the CPU engine, N
// engines splitting the threads, and one with all of them for the final
// retraining.

package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"

	gpucuda "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/internal/shell"
	"github.com/cnngpu/cnngpu/internal/shown"
	"github.com/urfave/cli/v2"
)

// maxJobsPerDevice is the most trainings at once per device accepted.
const maxJobsPerDevice = 64

var jobsPerDeviceFlag = &cli.IntFlag{Name: "jobs-per-device", Value: 1, Usage: "run `N` trainings at once on each GPU of --devices " +
	"(or of --device, or the default GPU), each with its own engine and streams, those of one GPU reading one upload of the training images: " +
	"one training at batch 128 leaves a GPU mostly idle, so more than 1 may finish a study sooner there (not yet timed on a GPU). " +
	"With the CPU engine: N engines splitting --threads (or all cores) between them, threads/N each (at least 1)"}

// jobsPerDevice reads --jobs-per-device.
func jobsPerDevice(c *cli.Context) (int, error) {
	n := c.Int("jobs-per-device")
	if n < 1 || n > maxJobsPerDevice {
		return 0, usageErrorf("--jobs-per-device %d: expected the number of trainings to run at once on each device, 1 to %d (1: one after another)",
			n, maxJobsPerDevice)
	}
	return n, nil
}

// tuneDevices reads --devices: GPU indices, each once (nil when not
// given).
func tuneDevices(c *cli.Context) ([]int, error) {
	if err := emptyFlag(c, "devices", "GPU indices, e.g. --devices 0,1 ("+shell.Command("devices")+" lists them)", "for the default device"); err != nil {
		return nil, err
	}
	d := c.String("devices")
	if d == "" {
		return nil, nil
	}
	ids, err := parseList("devices", d, strconv.Atoi)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if id < 0 {
			return nil, usageErrorf("--devices: %d is not a GPU index (0, 1, ...; %s lists them)", id, shell.Command("devices"))
		}
		if slices.Contains(ids[:i], id) {
			return nil, usageErrorf("--devices %s: GPU %d is named twice; to run more trainings at once on one GPU, use --jobs-per-device N", d, id)
		}
	}
	return ids, nil
}

// tuneEngines opens the study's engines, with their names for the
// progress; final, when not nil, is the engine for the final retraining.
// On failure it closes what it opened.
func tuneEngines(c *cli.Context, jobs int, note io.Writer) (engines []engine.Engine, slots []string, final engine.Engine, err error) {
	defer func() {
		if err != nil {
			for _, e := range engines {
				e.Close()
			}
			engines, slots, final = nil, nil, nil
		}
	}()
	if err := checkEngineFlags(c); err != nil {
		return nil, nil, nil, err
	}
	ids, err := tuneDevices(c)
	if err != nil {
		return nil, nil, nil, err
	}
	if ids != nil {
		for _, id := range ids {
			for k := range jobs {
				e, err := openGPU(c.App.ErrWriter, id, c.String("precision") == "tf32")
				if nd := (*gpucuda.NoSuchDeviceError)(nil); errors.As(err, &nd) {
					// The flag given is --devices, not --device.
					return engines, nil, nil, withCode(2, shown.As(nd.Said(fmt.Sprintf("--devices %s: no GPU %d", c.String("devices"), id), "give --devices from these"), err))
				}
				if err != nil {
					return engines, nil, nil, err
				}
				engines = append(engines, e)
				slots = append(slots, gpuSlot(id, k, jobs))
			}
		}
		return engines, slots, nil, nil
	}
	e, err := studyEngine(c, note)
	if err != nil {
		return nil, nil, nil, err
	}
	engines = append(engines, e)
	if jobs == 1 {
		return engines, nil, nil, nil
	}
	if _, ok := e.(*cpu.Engine); ok {
		// The CPU engine, asked for or the fallback: jobs engines
		// splitting the threads, and e, with all of them, for the final
		// retraining.
		threads := c.Int("threads")
		if threads == 0 {
			threads = runtime.GOMAXPROCS(0)
		}
		each := max(1, threads/jobs)
		engines = nil
		for k := range jobs {
			engines = append(engines, cpu.New(each))
			slots = append(slots, fmt.Sprintf("cpu #%d", k+1))
		}
		return engines, slots, e, nil
	}
	// A GPU engine on --device N or GPU 0: jobs-1 more beside it.
	id := 0
	if c.IsSet("device") {
		id = c.Int("device")
	}
	slots = append(slots, gpuSlot(id, 0, jobs))
	for k := 1; k < jobs; k++ {
		g, err := openGPU(c.App.ErrWriter, id, c.String("precision") == "tf32")
		if err != nil {
			return engines, nil, nil, err
		}
		engines = append(engines, g)
		slots = append(slots, gpuSlot(id, k, jobs))
	}
	return engines, slots, nil, nil
}

// studyEngine opens the engine of a study's trainings as newEngine does,
// but without its fall-back to the CPU engine under --precision tf32: the
// study's folder records tf32, and runs trained in FP32 would be ranked
// with a GPU's later ones as tf32.
func studyEngine(c *cli.Context, note io.Writer) (engine.Engine, error) {
	if c.String("precision") != "tf32" || c.IsSet("device") || c.Bool("cpu") {
		return newEngine(c, note, false) // (--device does not fall back; --cpu with tf32 is refused)
	}
	if err := checkEngineFlags(c); err != nil {
		return nil, err
	}
	if err := checkEngineEnv(); err != nil {
		return nil, err
	}
	e, err := openGPU(note, 0, true)
	if err != nil {
		why := withoutHint(err)
		if nd := (*gpucuda.NoSuchDeviceError)(nil); errors.As(err, &nd) {
			why = errors.New("the NVIDIA driver sees no GPU") // no --device was given
		}
		return nil, fmt.Errorf("--precision tf32 is the GPU's, and GPU 0 cannot be used: %v\na study's precision is fixed in its folder, so it is not trained in another: make the GPU usable (%s says what it finds), or run the study in FP32 with --cpu and without --precision",
			why, shell.Command("devices"))
	}
	return e, nil
}

// gpuSlot names training k of jobs on GPU id: "GPU 1", or "GPU 1 #2".
func gpuSlot(id, k, jobs int) string {
	if jobs == 1 {
		return fmt.Sprintf("GPU %d", id)
	}
	return fmt.Sprintf("GPU %d #%d", id, k+1)
}

// engineNames describes engines, identical ones counted: "cpu (1
// threads, …) ×2".
func engineNames(engines []engine.Engine) string {
	var names []string
	count := map[string]int{}
	for _, e := range engines {
		n := e.Name()
		if count[n] == 0 {
			names = append(names, n)
		}
		count[n]++
	}
	for i, n := range names {
		if count[n] > 1 {
			names[i] = fmt.Sprintf("%s ×%d", n, count[n])
		}
	}
	return strings.Join(names, ", ")
}
