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
}
