// devices.go: `cnngpu devices`: the GPUs the NVIDIA driver sees and the
// versions of the driver, cuBLAS and cuDNN found, or why there are none.

package main

import (
	"fmt"

	"github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/cudnn"
	"github.com/urfave/cli/v2"
)

func devicesCommand() *cli.Command {
	return &cli.Command{
		Name:         "devices",
		Usage:        "list the GPUs and the driver, CUDA, cuBLAS and cuDNN versions found (exit 1 when there is no GPU)",
		OnUsageError: onUsage,
		Action: func(c *cli.Context) error {
			out := c.App.Writer
			v, err := cuda.DriverVersion()
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "NVIDIA driver supports CUDA %d.%d\n", v/1000, v%1000/10)
			devs, err := cuda.Devices()
			if err != nil {
				return err
			}
			for _, d := range devs {
				fmt.Fprintf(out, "GPU %d  %s  %.1f GiB  compute capability %d.%d  %d multiprocessors\n",
					d.Index, d.Name, float64(d.MemoryBytes)/(1<<30), d.ComputeMajor, d.ComputeMinor, d.Multiprocessors)
			}
			if lib, ver, err := cuda.BLASVersion(); err != nil {
				fmt.Fprintf(out, "cuBLAS: %v\n", err)
			} else {
				fmt.Fprintf(out, "cuBLAS %s (%s)\n", ver, lib)
			}
			if lib, ver, err := cudnn.Version(); err != nil {
				fmt.Fprintf(out, "cuDNN: %v\n", err)
			} else {
				fmt.Fprintf(out, "cuDNN %s (%s)\n", ver, lib)
			}
			if len(devs) == 0 {
				return fmt.Errorf("the driver sees no GPU; train with --cpu")
			}
			return nil
		},
	}
}
