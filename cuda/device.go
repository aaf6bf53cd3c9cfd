// device.go: the description of a GPU, shared by the cgo and no-cgo builds.

package cuda

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
