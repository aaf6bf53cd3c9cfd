// limits_test.go: shapes past what the max-pools' int32 argmax indexes
// are refused: by CheckPool (a panic with the reason, before any tensor is
// looked at) and, first, by Arch.CheckBatch and the model (an error).

package engine_test

import (
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
)

func TestPoolIndexLimit(t *testing.T) {
	arch, _ := engine.NewArch("reference", engine.ReLU)
	// 32 filters of 28×28 before the first pool: 25,088 values an image.
	if got, want := arch.MaxBatch(), (1<<31-1)/25088; got != want {
		t.Errorf("MaxBatch() = %d, want %d", got, want)
	}
	if err := arch.CheckBatch(arch.MaxBatch()); err != nil {
		t.Errorf("CheckBatch(MaxBatch()): %v", err)
	}
	err := arch.CheckBatch(arch.MaxBatch() + 1)
	if err == nil || !strings.Contains(err.Error(), "smaller batch") {
		t.Errorf("CheckBatch(MaxBatch()+1) = %v, want an error that says to use a smaller batch", err)
	}

	e := cpu.New(1)
	defer e.Close()
	small, _ := e.Alloc(engine.Float32, 1)
	arg, _ := e.Alloc(engine.Int32, 1)
	s := engine.PoolShape{N: arch.MaxBatch() + 1, C: 32, H: 28, W: 28, Size: 2}
	func() {
		defer func() {
			msg, _ := recover().(string)
			if !strings.Contains(msg, "int32 argmax") {
				t.Errorf("CheckPool on %+v: panic %q, want one about the int32 argmax", s, msg)
			}
		}()
		engine.CheckPool("MaxPool", s, small, small, arg)
	}()

	m, err := engine.NewModel(e, arch, engine.OptConfig{Kind: engine.SGD, LR: 0.1}, arch.GlorotInit(1))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	b := engine.Batch{Images: small, Labels: arg, Perm: arg, Cursor: arg}
	if err := m.TrainStep(b, arch.MaxBatch()+1, small); err == nil || !strings.Contains(err.Error(), "32-bit") {
		t.Errorf("TrainStep past the limit: %v, want the batch refused", err)
	}
}
