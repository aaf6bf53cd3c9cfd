// atomic_test.go: WriteAtomic replaces content whole, sets the mode,
// leaves no temporary file behind, also when the write fails, and removes
// the temporary files of writers that are gone.

package fileutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.txt")
	if err := WriteAtomic(p, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(p, []byte("second, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "second, longer" || st.Mode().Perm() != 0o600 {
		t.Errorf("content %q mode %v; want the new content, the file's mode kept (-rw-------)", b, st.Mode())
	}
	// A target that is a folder fails, and leaves nothing behind.
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	if err := WriteAtomic(filepath.Join(dir, "sub"), []byte("x"), 0o644); err == nil {
		t.Error("writing over a folder succeeded")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("folder holds %d entries, want 2 (no temporary files)", len(ents))
	}
	if err := WriteAtomic(filepath.Join(dir, "missing", "f"), []byte("x"), 0o644); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}

// TestStaleTemporaries: a write removes the temporary files of its target
// left by processes that are gone, and keeps those of a running process
// (a concurrent writer), of other targets and of other names.
func TestStaleTemporaries(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skipf("cannot run a short-lived process: %v", err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "f.txt")
	_, host, _ := strings.Cut(writerTag(), "@")
	gones := []string{
		fmt.Sprintf(".f.txt.tmp-%d@%s-1", dead.Process.Pid, host),
		fmt.Sprintf(".f.txt.tmp-%d-4", dead.Process.Pid), // an earlier build's name
	}
	keep := []string{
		fmt.Sprintf(".f.txt.tmp-%d@%s-2", os.Getppid(), host),           // a running writer
		fmt.Sprintf(".g.txt.tmp-%d@%s-3", dead.Process.Pid, host),       // another target
		fmt.Sprintf(".f.txt.tmp-%d@%s-other-5", dead.Process.Pid, host), // another machine's (its name longer)
		fmt.Sprintf(".f.txt.tmp-%d@node-7-6", dead.Process.Pid),         // another machine's: its PIDs are not ours
		"notes.txt",
	}
	for _, n := range append(gones, keep...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteAtomic(p, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, gone := range gones {
		if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("%s (its writer is gone) was not removed: %v", gone, err)
		}
	}
	for _, n := range keep {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s was removed: %v", n, err)
		}
	}
}

// TestWriteAtomicTargets: a link is followed (the file it leads to is
// replaced, the link stays; a link to a missing file makes that file);
// a named pipe, a device or a folder at the path is refused and left as
// it was.
func TestWriteAtomicTargets(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.txt")
	if err := os.WriteFile(real, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "latest.txt")
	if err := os.Symlink("real.txt", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(link, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", st.Mode(), err)
	}
	if b, _ := os.ReadFile(real); string(b) != "new" {
		t.Errorf("the link's file holds %q, want %q", b, "new")
	}
	dangling := filepath.Join(dir, "next.txt")
	if err := os.Symlink(filepath.Join(dir, "made.txt"), dangling); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(dangling, []byte("made"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "made.txt")); string(b) != "made" {
		t.Errorf("a link to a missing file: that file holds %q, want %q", b, "made")
	}
	// A relative link's ".." is taken from the folder the link really is
	// in (home/models is a link to real/models), as the system does.
	os.MkdirAll(filepath.Join(dir, "real", "models"), 0o755)
	os.MkdirAll(filepath.Join(dir, "real", "archive"), 0o755)
	os.MkdirAll(filepath.Join(dir, "home"), 0o755)
	if err := os.Symlink(filepath.Join(dir, "real", "models"), filepath.Join(dir, "home", "models")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../archive/run.txt", filepath.Join(dir, "real", "models", "latest")); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(filepath.Join(dir, "home", "models", "latest"), []byte("run"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "real", "archive", "run.txt")); string(b) != "run" {
		t.Errorf("through a linked folder: real/archive/run.txt holds %q, want %q", b, "run")
	}
	// Another user's link in a sticky, world-writable folder (as in
	// /tmp) is not followed, as the system would not (as root: the link
	// can be given to another user).
	if os.Geteuid() == 0 {
		shared := filepath.Join(dir, "shared")
		os.Mkdir(shared, 0o777)
		os.Chmod(shared, 0o777|os.ModeSticky)
		trap := filepath.Join(shared, "m.jsonl")
		os.Symlink(filepath.Join(dir, "victim.txt"), trap)
		if err := os.Lchown(trap, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := WriteAtomic(trap, []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), "another user's") {
			t.Errorf("another user's link in a sticky folder: %v, want it refused", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "victim.txt")); err == nil {
			t.Error("another user's link in a sticky folder was followed")
		}
	}
	fifo := filepath.Join(dir, "pipe")
	mkfifo(t, fifo)
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	toPipe := filepath.Join(dir, "to-pipe")
	if err := os.Symlink("pipe", toPipe); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{fifo, "not a regular file"}, {toPipe, "not a regular file"}, {sub, "is a folder"}, {"/dev/null", "not a regular file"},
	} {
		before, _ := os.Lstat(c.path)
		err := WriteAtomic(c.path, []byte("x"), 0o644)
		var we *WriteError
		if !errors.As(err, &we) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("WriteAtomic(%s) = %v, want a WriteError saying %q", c.path, err, c.want)
		}
		if after, _ := os.Lstat(c.path); before == nil || after == nil || after.Mode() != before.Mode() {
			t.Errorf("%s changed: %v → %v", c.path, before, after)
		}
	}
}

// TestWriteAtomicSet: where one file of a set cannot be written, none is
// replaced and no temporary file is left; otherwise all are.
func TestWriteAtomicSet(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.npy"), filepath.Join(dir, "b.npy")
	os.WriteFile(a, []byte("old a"), 0o644)
	err := WriteAtomicSet([]File{{Path: a, Data: []byte("new a"), Perm: 0o644}, {Path: b, Data: []byte("new b"), Perm: 0o644},
		{Path: filepath.Join(dir, "missing", "c.npy"), Data: []byte("c"), Perm: 0o644}})
	var we *WriteError
	if !errors.As(err, &we) || !strings.Contains(we.Path, "c.npy") {
		t.Fatalf("a set with an unwritable file: %v, want a WriteError naming it", err)
	}
	if got, _ := os.ReadFile(a); string(got) != "old a" {
		t.Errorf("a.npy holds %q after the failed set, want it as it was", got)
	}
	if _, err := os.Stat(b); err == nil {
		t.Error("b.npy was written by the failed set")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// b in pieces: Data, then Parts in order.
	if err := WriteAtomicSet([]File{{Path: a, Data: []byte("new a"), Perm: 0o644}, {Path: b, Data: []byte("ne"), Parts: [][]byte{[]byte("w "), nil, []byte("b")}, Perm: 0o600}}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{a: "new a", b: "new b"} {
		if got, _ := os.ReadFile(p); string(got) != want {
			t.Errorf("%s holds %q, want %q", p, got, want)
		}
	}
}

// TestWriteAtomicModeAndLongNames: a new file gets its mode less the
// umask, as os.WriteFile gives it; a name as long as the system allows
// less a few bytes is written (its temporary name is shortened), and a
// killed writer's temporary file of it is still cleaned.
func TestWriteAtomicModeAndLongNames(t *testing.T) {
	dir := t.TempDir()
	old := setUmask(t, 0o077)
	umaskOnce := umask
	umask = func() os.FileMode { return 0o077 }
	defer func() { setUmask(t, old); umask = umaskOnce }()
	p := filepath.Join(dir, "private")
	if err := WriteAtomic(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("new file under umask 077: mode %v, want -rw-------", st.Mode())
	}
	for _, n := range []int{121, 200, 249, 255} {
		base := strings.Repeat("é", n/2) + strings.Repeat("m", n%2) // cut inside a character
		long := filepath.Join(dir, base)
		stale := filepath.Join(dir, tempPrefix(base)+"999999999-1")
		if err := os.WriteFile(stale, nil, 0o600); err != nil {
			t.Fatalf("a %d-byte name's temporary name: %v", len(base), err)
		}
		if err := WriteAtomic(long, []byte("long"), 0o644); err != nil {
			t.Errorf("a %d-byte name: %v", len(base), err)
		}
		if b, _ := os.ReadFile(long); string(b) != "long" {
			t.Errorf("a %d-byte name holds %q", len(base), b)
		}
		if _, err := os.Stat(stale); !os.IsNotExist(err) {
			t.Errorf("a %d-byte name: a dead writer's temporary file left: %v", len(base), err)
		}
		if pre := tempPrefix(base); !utf8.ValidString(pre) || len(pre) > 120 {
			t.Errorf("temporary prefix %q: %d bytes, valid UTF-8 %v", pre, len(pre), utf8.ValidString(pre))
		}
	}
}

// TestWriteAtomicFinal: Final's header takes Data's place once the rest is
// written; a Final that fails, or returns a header of another length,
// fails the write and leaves the file as it was, with no temporary file.
func TestWriteAtomicFinal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.bin")
	calls := 0
	final := func() ([]byte, error) { calls++; return []byte("HEAD"), nil }
	if err := WriteAtomicSet([]File{{Path: p, Data: []byte("0000"), Parts: [][]byte{[]byte("body")}, Perm: 0o644, Final: final}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "HEADbody" || calls != 1 {
		t.Fatalf("the file holds %q after %d calls of Final, want \"HEADbody\" after one", got, calls)
	}
	for name, f := range map[string]func() ([]byte, error){
		"failing":      func() ([]byte, error) { return nil, errors.New("sums failed") },
		"other length": func() ([]byte, error) { return []byte("HEADER"), nil },
	} {
		err := WriteAtomicSet([]File{{Path: p, Data: []byte("0000"), Parts: [][]byte{[]byte("next")}, Perm: 0o644, Final: f}})
		var we *WriteError
		if !errors.As(err, &we) || we.Path != p {
			t.Errorf("%s Final: %v, want a WriteError naming %s", name, err, p)
		}
		if got, _ := os.ReadFile(p); string(got) != "HEADbody" {
			t.Errorf("%s Final: the file holds %q, want it as it was", name, got)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
			t.Errorf("%s Final: temporary files left: %v", name, left)
		}
	}
}

// TestWriteThroughDescriptorRefused: a path that leads to an open
// descriptor (/dev/stdout, /dev/fd/N, /proc/self/fd/N, a link to one) is
// refused, and the file the descriptor was opened on is left as it was.
// Followed by its text, the link named that file, which the rename
// replaced (the descriptor then wrote into the replaced one), and after
// one rename "NAME (deleted)", which was made anew.
func TestWriteThroughDescriptorRefused(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc here")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "log.txt")
	f, err := os.Create(target)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("printed so far\n")
	fd := fmt.Sprint(f.Fd())
	link := filepath.Join(dir, "link")
	os.Symlink("/proc/self/fd/"+fd, link)
	paths := []string{"/proc/self/fd/" + fd, link}
	if _, err := os.Stat("/dev/fd"); err == nil {
		paths = append(paths, "/dev/fd/"+fd)
	}
	for _, p := range paths {
		if !ThroughDescriptor(p) {
			t.Errorf("ThroughDescriptor(%s) = false", p)
		}
		if err := WriteAtomic(p, []byte("a checkpoint"), 0o644); err == nil || !strings.Contains(err.Error(), "names an open descriptor") {
			t.Errorf("WriteAtomic(%s): %v; want it refused", p, err)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "printed so far\n" {
		t.Errorf("the descriptor's file holds %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("the folder holds %d entries, want the file and the link", len(ents))
	}
	for _, p := range []string{target, dir, filepath.Join(dir, "new.txt"), "/proc/self/status"} {
		if ThroughDescriptor(p) {
			t.Errorf("ThroughDescriptor(%s) = true", p)
		}
	}
	// Named from the folder of descriptors itself: "N", "./N".
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir("/proc/self/fd"); err == nil {
		for _, p := range []string{fd, "./" + fd} {
			if !ThroughDescriptor(p) {
				t.Errorf("ThroughDescriptor(%s) in /proc/self/fd = false", p)
			}
		}
	}
	// A folder opened as a descriptor, and ".." after it: what the
	// system reaches is dir's parent's file, no descriptor.
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if p := fmt.Sprintf("/proc/self/fd/%d/../x", d.Fd()); ThroughDescriptor(p) {
		t.Errorf("ThroughDescriptor(%s) = true", p)
	}
}
