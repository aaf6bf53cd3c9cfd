package cpu

import (
	"errors"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
)

// TestAllocRefusedPastAvailableMemory: tensors past the memory there was
// are refused with ErrOutOfMemory (not a crash of the Go runtime), and
// freed tensors make room again.
func TestAllocRefusedPastAvailableMemory(t *testing.T) {
	e := New(1)
	defer e.Close()
	if e.avail <= 0 {
		t.Logf("available memory unknown here (%d): checking with a set bound", e.avail)
	}
	e.avail, e.live = 10<<20, 0
	a, err := e.Alloc(engine.Float32, 2<<20) // 8 MiB
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Alloc(engine.Uint8, 3<<20) // 3 MiB more: past 10
	if !errors.Is(err, ErrOutOfMemory) || !strings.Contains(err.Error(), "a tensor of 3.0 MiB on top of the 8.0 MiB") || !strings.Contains(err.Error(), "--batch-size") {
		t.Fatalf("past the bound: %v; want ErrOutOfMemory naming the sizes", err)
	}
	e.Free(a)
	if e.live != 0 {
		t.Errorf("after Free: %d bytes counted, want 0", e.live)
	}
	if _, err := e.Alloc(engine.Uint8, 3<<20); err != nil {
		t.Errorf("after Free: %v", err)
	}
	// A real bound where the system gives one: the machine's memory is
	// not refused for a small tensor.
	if avail := availableMemory(); avail < 0 {
		t.Errorf("availableMemory = %d", avail)
	}
}
