//go:build unix

// lock_test.go: a study folder is one process's at a time: a second lock
// (another open of the lock file, as another process would make) is
// refused naming the folder and the holder's pid, the study's runner and
// merge refuse a held folder, and a released lock can be taken again.

package tune

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestLockOneHolder(t *testing.T) {
	dir := t.TempDir() + "/study"
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) ||
		!strings.Contains(err.Error(), "another --out") {
		t.Fatalf("second lock: %v; want an error naming the folder, the holder's pid and what to do", err)
	}
	r := &Runner{Spec: &Spec{LRs: []float64{0.001}, BatchSizes: []int{8}, Acts: []string{"relu"}, Epochs: 1, ValSplit: 0.5}, Dir: dir}
	if err := r.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "in use by") {
		t.Errorf("Runner.Run on a held folder: %v; want the lock's error", err)
	}
	shard := t.TempDir()
	if err := Prepare(shard, r.Spec); err != nil {
		t.Fatal(err)
	}
	if _, err := Merge(dir, []string{shard}, MergeOptions{}); err == nil || !strings.Contains(err.Error(), "in use by") {
		t.Errorf("Merge into a held folder: %v; want the lock's error", err)
	}
	release()
	again, err := Lock(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again()
}
