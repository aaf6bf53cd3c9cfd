//go:build unix

// lock_test.go: a study folder is one process's at a time: a second lock
// (another open of the lock file, as another process would make) is
// refused naming the folder and the holder's pid, the study's runner and
// merge refuse a held folder, and a released lock can be taken again;
// within one process the lock nests.

package tune

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/engine"
)

func TestLockOneHolder(t *testing.T) {
	dir := t.TempDir() + "/study"
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Another process's attempt: another open of the lock file.
	if _, err = flockFolder(dir); err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) ||
		!strings.Contains(err.Error(), "another --out") {
		t.Fatalf("second lock: %v; want an error naming the folder, the holder's pid and what to do", err)
	}
	release()
	// Held elsewhere: the runner and merge refuse the folder.
	other, err := flockFolder(dir)
	if err != nil {
		t.Fatal(err)
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
	other.Close()
	again, err := Lock(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again()
}

// TestLockNests: a folder this process holds is taken again at once, under
// another name too (a symbolic link), and stays held until the last
// release; a release called twice counts once.
func TestLockNests(t *testing.T) {
	dir := t.TempDir() + "/study"
	outer, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	link := t.TempDir() + "/link"
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	inner, err := Lock(link)
	if err != nil {
		t.Fatalf("nested lock through a link: %v", err)
	}
	inner()
	inner()
	if f, err := flockFolder(dir); err == nil {
		f.Close()
		t.Fatal("the folder was free after the inner release (twice) while the outer holder still held it")
	}
	outer()
	f, err := flockFolder(dir)
	if err != nil {
		t.Fatalf("after the last release: %v", err)
	}
	f.Close()
}

// TestClaim: Claim refuses a folder held elsewhere or holding another
// study before anything is read; after a failure it removes a folder it
// made while no run is recorded there, and keeps a folder that existed or
// holds a run.
func TestClaim(t *testing.T) {
	spec := &Spec{LRs: []float64{0.001}, BatchSizes: []int{8}, Acts: []string{"relu"}, Epochs: 1, ValSplit: 0.5, Arch: "reference", Optimizer: "adam"}
	dir := t.TempDir() + "/study"
	release, err := Claim(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSpec(dir); err != nil {
		t.Fatalf("claimed folder without its study: %v", err)
	}
	release(true)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a folder Claim made, after a failure with no run: %v; want it removed", err)
	}

	// A run that recorded no epoch (its header alone, written as it
	// starts: a study interrupted in its first epoch) is nothing to keep.
	c := spec.Configs()[0]
	release, err = Claim(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Run{Config: c}).Save(RunPath(dir, c, 0, 0)); err != nil {
		t.Fatal(err)
	}
	release(true)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a folder Claim made, after a failure with a run that recorded no epoch: %v; want it removed", err)
	}

	release, err = Claim(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	run := &Run{Config: c, Epochs: []engine.EpochMetrics{{Epoch: 1, TrainLoss: 0.5, TrainAcc: 0.8, ValLoss: 0.4, ValAcc: 0.85, Seconds: 2}}}
	if err := run.Save(RunPath(dir, c, 0, 0)); err != nil {
		t.Fatal(err)
	}
	release(true)
	if _, err := LoadSpec(dir); err != nil {
		t.Fatalf("a folder with a run, after a failure: %v; want it kept", err)
	}

	// A folder that existed: kept, with what the user put there, and
	// without what Claim wrote (a corrected command is not refused as
	// another study).
	kept := t.TempDir()
	if err := os.WriteFile(kept+"/notes.txt", []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	release, err = Claim(kept, spec)
	if err != nil {
		t.Fatal(err)
	}
	release(true)
	if entries, err := os.ReadDir(kept); err != nil || len(entries) != 1 || entries[0].Name() != "notes.txt" {
		t.Fatalf("a folder that existed before Claim, after a failure: %v %v; want only notes.txt", entries, err)
	}
	// A folder with a runs folder of its own (train's checkpoints, with
	// --out . where a train ran): the run file begun and the study's
	// definition go, the runs folder and what it held stay.
	withRuns := t.TempDir()
	if err := os.MkdirAll(withRuns+"/runs", 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(withRuns+"/runs/model.safetensors", []byte("a checkpoint"), 0o644)
	release, err = Claim(withRuns, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Run{Config: c}).Save(RunPath(withRuns, c, 0, 0)); err != nil {
		t.Fatal(err)
	}
	release(true)
	if entries, err := os.ReadDir(withRuns); err != nil || len(entries) != 1 || entries[0].Name() != "runs" {
		t.Fatalf("a folder with a runs folder before Claim, after a failure: %v %v; want only runs", entries, err)
	}
	if entries, err := os.ReadDir(withRuns + "/runs"); err != nil || len(entries) != 1 || entries[0].Name() != "model.safetensors" {
		t.Fatalf("its runs folder after a failure: %v %v; want only model.safetensors", entries, err)
	}
	// Interrupted (not failed): kept, to be continued.
	release, err = Claim(kept, spec)
	if err != nil {
		t.Fatal(err)
	}
	release(false)
	if _, err := LoadSpec(kept); err != nil {
		t.Fatalf("after release(false): %v; want the study kept", err)
	}
	// Parents Claim made go too, the folder above them stays.
	top := t.TempDir()
	release, err = Claim(top+"/a/b/study", spec)
	if err != nil {
		t.Fatal(err)
	}
	release(true)
	if entries, _ := os.ReadDir(top); len(entries) != 0 {
		t.Fatalf("after a failure in folders Claim made: %v left in %s", entries, top)
	}
	// A link to a missing folder is named as such.
	link := top + "/dangling"
	if err := os.Symlink(top+"/gone", link); err != nil {
		t.Fatal(err)
	}
	if _, err := Claim(link, spec); err == nil || !strings.Contains(err.Error(), "symbolic link to "+top+"/gone, which is missing") {
		t.Errorf("Claim of a dangling link: %v", err)
	}

	other := *spec
	other.Epochs = 2
	if _, err := Claim(dir, &other); err == nil || !strings.Contains(err.Error(), "different study") || strings.Contains(err.Error(), "recorded no epoch") {
		t.Errorf("Claim of a folder holding another study: %v; want the difference named", err)
	}
	// A study that recorded nothing (its process killed in its first
	// run: the definition and a run file's header left): said so, with
	// what to remove to start another there.
	unstartedDir := t.TempDir()
	if err := spec.Save(unstartedDir); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(unstartedDir, RunsDir), 0o755)
	if err := (&Run{Config: c}).Save(RunPath(unstartedDir, c, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := Claim(unstartedDir, &other); err == nil || !strings.Contains(err.Error(), "which recorded no epoch of any run (stopped in its first): remove "+filepath.Join(unstartedDir, SpecFile)+" and the run files in ") {
		t.Errorf("Claim of a folder holding another study that recorded nothing: %v", err)
	}
	f, err := flockFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Claim(dir, spec); err == nil || !strings.Contains(err.Error(), "in use by") {
		t.Errorf("Claim of a folder held elsewhere: %v; want the lock's error", err)
	}
}

// TestMergeOfARunningShard: a shard whose run is missing while a study
// holds its folder is said to be running there, not only unfinished.
func TestMergeOfARunningShard(t *testing.T) {
	spec := tinySpec()
	spec.BatchSizes = []int{32, 64}
	root := t.TempDir()
	owner := spec.ShardOf(3)
	var c2 Config
	for i, c := range spec.Configs() {
		if owner[i] == 2 {
			c2 = c
		}
	}
	var dirs []string
	for i := 0; i < 2; i++ {
		d := filepath.Join(root, string(rune('0'+i)))
		fakeShard(t, spec, i, 3, d)
		dirs = append(dirs, d)
	}
	part := filepath.Join(root, "part")
	fakeShard(t, spec, 2, 3, part, c2.Key())
	f, err := flockFolder(part)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = Merge(filepath.Join(t.TempDir(), "merged"), append(dirs, part), MergeOptions{})
	if want := "shard 2/3 (" + part + ") has not finished it yet: a study is running there"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("merge with a shard still running: %v; want %q", err, want)
	}
}

// TestInUse: InUse tells a folder another holder has locked (a dry run's
// check, which takes nothing), and nil once it is free.
func TestInUse(t *testing.T) {
	dir := t.TempDir()
	if err := InUse(dir); err != nil {
		t.Errorf("a folder no one holds: %v", err)
	}
	f, err := flockFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ue *InUseError
	if err := InUse(dir); !errors.As(err, &ue) || !strings.Contains(err.Error(), dir+" is in use by") {
		t.Errorf("a folder held: %v; want an InUseError naming it", err)
	}
	f.Close()
	if err := InUse(dir); err != nil {
		t.Errorf("a folder held no more: %v", err)
	}
}
