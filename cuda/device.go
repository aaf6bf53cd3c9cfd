// device.go: the description of a GPU, shared by the cgo and no-cgo builds.

package cuda

import (
	"regexp"
	"strconv"
)

// Device describes one GPU.
type Device struct {
	Index           int
	Name            string
	MemoryBytes     uint64
	ComputeMajor    int
	ComputeMinor    int
	Multiprocessors int
	// Err is why the driver could not describe this GPU (a query failed):
	// it cannot be used, and the others still can.
	Err error
}

var ptxTarget = regexp.MustCompile(`(?m)^\.target sm_(\d)(\d+)`)

// Target is the compute capability PTX code targets (its .target line):
// the oldest GPU it runs on; ok is false where it names none.
func Target(ptx string) (major, minor int, ok bool) {
	m := ptxTarget.FindStringSubmatch(ptx)
	if m == nil {
		return 0, 0, false
	}
	major, _ = strconv.Atoi(m[1])
	minor, _ = strconv.Atoi(m[2])
	return major, minor, true
}

// Older tells whether the GPU's compute capability is below major.minor.
func (d Device) Older(major, minor int) bool {
	return d.ComputeMajor < major || d.ComputeMajor == major && d.ComputeMinor < minor
}
