// kill_test.go: a checkpoint write killed (SIGKILL, in a child process)
// after its temporary file is written and before the rename leaves the
// previous checkpoint intact, and the next write removes the killed
// writer's temporary file.

package fileutil_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	"github.com/cnngpu/cnngpu/internal/fileutil"
)

// childEnv names the checkpoint the child process writes and is killed in.
const childEnv = "CNNGPU_FILEUTIL_KILLED_WRITER"

// checkpoint is a checkpoint of the smaller (original) model with weights from seed.
func checkpoint(t *testing.T, seed uint64) *engine.Checkpoint {
	t.Helper()
	e := cpu.New(1)
	defer e.Close()
	arch, err := engine.NewArch("original", engine.ReLU)
	if err != nil {
		t.Fatal(err)
	}
	opt := engine.OptConfig{Kind: engine.Adam, LR: 0.001, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7}
	m, err := engine.NewModel(e, arch, opt, arch.GlorotInit(seed))
	if err != nil {
		t.Fatal(err)
	}
	ck, err := engine.Snapshot(m, engine.TrainConfig{Epochs: 1, BatchSize: 128, Seed: seed}, engine.Position{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

func TestKilledCheckpointWrite(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		// The child: write a checkpoint, and stop just before the rename
		// until the parent kills it.
		fileutil.SetBeforeRename(func(tmp string) {
			os.Stdout.WriteString("renaming " + tmp + "\n")
			time.Sleep(time.Hour)
		})
		checkpoint(t, 2).Save(path)
		t.Fatal("the write was not stopped before its rename")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	first := checkpoint(t, 1)
	if err := first.Save(path); err != nil {
		t.Fatal(err)
	}
	want, _ := first.Encode()

	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledCheckpointWrite$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tmp := ""
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if s, ok := strings.CutPrefix(lines.Text(), "renaming "); ok {
			tmp = s
			break
		}
	}
	cmd.Process.Kill() // SIGKILL: no deferred clean-up runs
	cmd.Wait()
	if tmp == "" {
		t.Fatal("the child process ended before its write reached the rename")
	}
	if !strings.Contains(filepath.Base(tmp), ".tmp-"+strconv.Itoa(cmd.Process.Pid)+"@") {
		t.Errorf("temporary file %s does not name its writer (pid %d)", tmp, cmd.Process.Pid)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("the killed writer's temporary file is not there: %v", err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after the killed write the previous checkpoint is not intact (%d bytes, want %d; %v)", len(got), len(want), err)
	}
	if _, err := engine.LoadCheckpoint(path); err != nil {
		t.Fatalf("the previous checkpoint no longer loads: %v", err)
	}

	// The next write replaces the checkpoint and removes the stray file.
	second := checkpoint(t, 3)
	if err := second.Save(path); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "model.safetensors" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("after the next write the folder holds %v, want only model.safetensors", names)
	}
	back, err := engine.LoadCheckpoint(path)
	if err != nil || back.Config.Seed != 3 {
		t.Errorf("the next write's checkpoint: seed %v, %v", back, err)
	}
}
