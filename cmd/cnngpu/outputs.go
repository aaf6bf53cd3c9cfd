// outputs.go: checking where a command will write before it does any
// work, so that a bad --out or --metrics is reported at once (not after an
// epoch of training), and so that no command writes over its own input,
// nor train over a file that is not its own checkpoint or metrics.
// A check writes nothing that stays: whether a folder can be written is
// tried by creating and removing a temporary file in it (permission bits
// say nothing when running as root).

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/shell"
	"github.com/cnngpu/cnngpu/loader"
	"github.com/urfave/cli/v2"
)

// checkOutFile checks that path can be written as a file given by flag:
// it is not a folder (nor names one by a trailing separator, "." or ".."),
// and its folder exists (or the nearest folder above
// it that exists, since writers create the missing ones) and can be
// written to. It returns a usage error (exit code 2); example is a file
// name to suggest inside a folder given instead.
func checkOutFile(flag, path, example string) error {
	if path == "" {
		return usageErrorf("%s \"\": expected a file name", flag)
	}
	if path == "-" {
		return usageErrorf("%s -: cnngpu writes its outputs to files, not to standard output: give a file name (./- for a file named \"-\")", flag)
	}
	if fileutil.ThroughDescriptor(path) {
		// /dev/stdout with standard output sent to a file: the renamed
		// file took the redirect's place, and what the command printed
		// went to the file it replaced.
		return usageErrorf("%s %s: names an open descriptor of this process (standard output or another), not a file; cnngpu writes a new file and renames it into place, which would replace what the descriptor was opened on: give the name of a file", flag, path)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usageErrorf("%s %s: is a directory; give a file name inside it, e.g. %s", flag, path, filepath.Join(path, example))
	} else if err == nil && !st.Mode().IsRegular() {
		// A device, a pipe or a socket (also through a link): the
		// file is written whole and renamed into place, which would
		// replace it (as root, /dev/null or /dev/stdout included).
		return usageErrorf("%s %s: exists and is not a regular file (%s); cnngpu writes a new file there and renames it into place, which would replace it: give the name of a file", flag, path, fileutil.Kind(st.Mode()))
	}
	if err := checkNameLengths(flag, path); err != nil {
		return err
	}
	if namesFolder(path) {
		// A folder not made yet: the write would fail after the work
		// (or, with --seeds, make files named "-seed1" in it).
		return usageErrorf("%s %s: names a folder, not a file; give a file name inside it, e.g. %s", flag, path, filepath.Join(path, example))
	}
	// A symbolic link is followed (the file it leads to is written): a
	// loop, or a link into a folder that does not exist, fails now.
	target, err := fileutil.WriteTarget(path)
	if err != nil {
		var we *fileutil.WriteError
		if errors.As(err, &we) {
			err = we.Err // the message names path itself
		}
		return usageErrorf("%s %s: %v", flag, path, err)
	}
	if target != path {
		dir := filepath.Dir(target)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return usageErrorf("%s %s: is a symbolic link to %s, in a folder that does not exist; make %s, or give another name", flag, path, target, dir)
		}
		return checkWritable(flag, path, dir)
	}
	return checkParent(flag, path)
}

// maxNameBytes is the most bytes one name in a path may have on Linux's
// file systems (NAME_MAX).
const maxNameBytes = 255

// checkNameLengths refuses a path (given by flag) with a file or folder
// name longer than maxNameBytes: creating it would fail only when it is
// written, after the work.
func checkNameLengths(flag, path string) error {
	for _, name := range strings.Split(filepath.ToSlash(path), "/") {
		if len(name) > maxNameBytes {
			short := name[:40]
			for !utf8.ValidString(short) {
				short = short[:len(short)-1]
			}
			return usageErrorf("%s %s: the name %s… is %d bytes long, more than the %d a file or folder name may have; give a shorter one", flag, path, short, len(name), maxNameBytes)
		}
	}
	return nil
}

// namesFolder reports whether path can only name a folder: it ends with a
// separator, or its last element is "." or "..".
func namesFolder(path string) bool {
	b := filepath.Base(path)
	return strings.HasSuffix(path, string(filepath.Separator)) || b == "." || b == ".."
}

// checkOutDir checks that path can be used as an output folder: it is a
// folder or does not exist yet, and it (or the nearest folder above it)
// can be written to.
func checkOutDir(flag, path string) error {
	if path == "" {
		return usageErrorf("%s \"\": expected a folder name", flag)
	}
	if err := checkNameLengths(flag, path); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err == nil {
		if !st.IsDir() {
			// A file, /dev/full, a pipe.
			return usageErrorf("%s %s: is %s, not a folder; give a folder (it is created when missing)", flag, path, fileutil.Kind(st.Mode()))
		}
		return checkWritable(flag, path, path)
	}
	if err := danglingLink(flag, path, path, err); err != nil {
		return err // the folder itself a link to nothing: mkdir would say "file exists"
	}
	if errors.Is(err, syscall.ELOOP) {
		if _, why := fileutil.BrokenLink(path); why != "" {
			return usageErrorf("%s %s: %s, or give another folder", flag, path, why)
		}
	}
	return checkParent(flag, path)
}

// danglingLink is the error for link, path or a folder above it, whose
// Stat failed with statErr, where it is a symbolic link to nothing: the
// folder cannot be made where it points. nil where it is not one (a
// loop, or a link not to be followed, is said by the caller).
func danglingLink(flag, path, link string, statErr error) error {
	lst, err := os.Lstat(link)
	if err != nil || lst.Mode()&os.ModeSymlink == 0 || !errors.Is(statErr, fs.ErrNotExist) {
		return nil
	}
	target, _ := os.Readlink(link)
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(link), target)
	}
	return usageErrorf("%s %s: %s is a symbolic link to %s, which does not exist; make that folder, or give another path", flag, path, link, target)
}

// checkParent checks that the nearest existing folder above path is a
// folder that can be written to.
func checkParent(flag, path string) error {
	dir := filepath.Dir(path)
	for {
		st, err := os.Stat(dir)
		if err == nil {
			if !st.IsDir() {
				return usageErrorf("%s %s: %s is a file, not a folder", flag, path, dir)
			}
			return checkWritable(flag, path, dir)
		}
		if err := danglingLink(flag, path, dir, err); err != nil {
			return err
		}
		// Missing, or below a file (ENOTDIR): look further up.
		if up := filepath.Dir(dir); up != dir && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
			dir = up
			continue
		}
		return usageErrorf("%s %s: %v", flag, path, unwrapPath(err))
	}
}

// checkWritable tries to create (and removes) a file in dir.
func checkWritable(flag, path, dir string) error {
	if err := fileutil.CanWrite(dir); err != nil {
		return usageErrorf("%s %s: cannot write in %s (%v); choose a folder you can write to", flag, path, dir, err)
	}
	return nil
}

// unwrapPath drops the path from a *fs.PathError (the message names it).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// sameFile reports whether a and b name the same existing file, through
// symbolic or hard links.
func sameFile(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// refuseSame refuses an output that is one of the inputs (same file, also
// through links). inputs alternate flag and path.
func refuseSame(outFlag, out string, inputs ...string) error {
	for i := 0; i+1 < len(inputs); i += 2 {
		if sameFile(out, inputs[i+1]) {
			return usageErrorf("%s %s is the same file as %s %s: writing it would destroy that input; give another name", outFlag, out, inputs[i], inputs[i+1])
		}
		if samePath(out, inputs[i+1]) {
			// Not there yet (MNIST's raw name beside its .gz): a file
			// written under it would be read as that input.
			return usageErrorf("%s %s is the name of a file %s reads (not there now): a file written there would be read as that input; give another name", outFlag, out, strings.TrimSuffix(inputs[i], " file"))
		}
	}
	return nil
}

// dataInputs lists the MNIST files of --data DIR (or the cache) as flag,
// path pairs for refuseSame.
func dataInputs(c *cli.Context) []string {
	dir := c.String("data")
	flag := "--data"
	if dir == "" {
		d, err := loader.CacheDir()
		if err != nil {
			return nil
		}
		dir, flag = d, "the MNIST cache file"
	}
	var out []string
	for _, f := range loader.Files {
		out = append(out, flag, filepath.Join(dir, f.Name), flag, filepath.Join(dir, strings.TrimSuffix(f.Name, ".gz")))
	}
	return out
}

// samePath reports whether a and b are the same path (where their links
// lead, to a file not made yet too), or the same file.
func samePath(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	abs := func(p string) string {
		if t, err := fileutil.WriteTarget(p); err == nil {
			p = t // where its links lead, the file made there if missing
		}
		p, err := filepath.Abs(p)
		if err != nil {
			return ""
		}
		// Its folder as the system has it (reached through a link: /tmp
		// on macOS is /private/tmp).
		if d, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
			p = filepath.Join(d, filepath.Base(p))
		}
		return p
	}
	aa, bb := abs(a), abs(b)
	return aa != "" && aa == bb || sameFile(a, b)
}

// resumesInPlace reports whether the run resumes a checkpoint with no
// --out: it then writes back into the --resume file, and the errors about
// that file name --resume, the flag given.
func resumesInPlace(c *cli.Context) bool {
	return !c.IsSet("out") && c.String("resume") != ""
}

// refuseExportName refuses a checkpoint --out named as an export is
// (model.onnx, w.npy), or as another framework's file (model.pt,
// model.h5): a file of another kind under that name misleads whoever
// opens it, and the other tool's loader fails on it.
func refuseExportName(out string) error {
	what, export := "", ""
	switch strings.ToLower(filepath.Ext(out)) {
	case ".onnx":
		what, export = "an ONNX model", "export --model CHECKPOINT --out model.onnx"
	case ".npy", ".npz":
		what, export = "NumPy files", "export --model CHECKPOINT --format npy --out FOLDER"
	case ".pt", ".pth":
		return usageErrorf("--out %s: train writes a checkpoint in safetensors, not a PyTorch file (torch.load cannot read it): name it .safetensors; PyTorch reads that with safetensors.torch.load_file, under PyTorch's names (docs/usage.md, \"Where things go\")", out)
	case ".h5", ".keras":
		return usageErrorf("--out %s: train writes a checkpoint in safetensors, not a Keras file (Keras cannot load it): name it .safetensors, and make an ONNX model or NumPy files from it for other frameworks with %s", out, shell.Command("export --model CHECKPOINT --out model.onnx"))
	default:
		return nil
	}
	return usageErrorf("--out %s: train writes a checkpoint (safetensors), not %s: name it .safetensors, and make %s from it with %s", out, what, what, shell.Command(export))
}

// checkTrainOutputs checks train's --out (out, the default filled in) and
// --metrics before anything is loaded or trained; whether out is
// read-only only with readOnly (--continue checks it once it knows which
// seeds it writes).
func checkTrainOutputs(c *cli.Context, out string, readOnly bool) error {
	if c.IsSet("out") && c.String("out") == "" {
		return usageErrorf("--out \"\": expected a file name (leave --out out for the default, runs/model-<time>.safetensors)")
	}
	if c.IsSet("metrics") && c.String("metrics") == "" {
		return usageErrorf("--metrics \"\": expected a file name (leave --metrics out for no metrics file)")
	}
	if raw := c.String("out"); raw != "" && raw != out && namesFolder(raw) {
		// --seeds: out is raw with -seedN added, a file name.
		return checkOutFile("--out", raw, "model.safetensors")
	}
	if err := refuseExportName(c.String("out")); err != nil {
		return err
	}
	label := "--out"
	if resumesInPlace(c) {
		label = "--resume"
	}
	checks := []func() error{
		func() error { return checkOutFile(label, out, "model.safetensors") },
		func() error { return refuseSame(label, out, dataInputs(c)...) },
		func() error { return refuseForeign(label, out, "a cnngpu checkpoint", engine.LooksLikeCheckpoint) },
	}
	if readOnly {
		checks = append(checks, func() error { return refuseReadOnly(label, out) })
	}
	for _, check := range checks {
		if err := check(); err != nil {
			if label == "--resume" {
				return fmt.Errorf("%w\n(a resumed run writes back into its checkpoint; give --out to write the continued run elsewhere)", err)
			}
			return err
		}
	}
	m := c.String("metrics")
	if m == "" {
		return nil
	}
	if err := checkOutFile("--metrics", m, "metrics.jsonl"); err != nil {
		return err
	}
	if samePath(m, out) {
		e := strings.TrimSuffix(out, filepath.Ext(out)) + ".jsonl"
		if samePath(e, out) { // --out m.jsonl
			e = strings.TrimSuffix(out, filepath.Ext(out)) + ".metrics.jsonl"
		}
		return usageErrorf("--metrics %s is the checkpoint file (--out %s); give the metrics their own file, e.g. %s", m, out, e)
	}
	if err := refuseSame("--metrics", m, append([]string{"--resume", c.String("resume")}, dataInputs(c)...)...); err != nil {
		return err
	}
	if err := refuseForeign("--metrics", m, "a metrics file of cnngpu's", isMetrics); err != nil {
		return err
	}
	return refuseReadOnly("--metrics", m)
}

// refuseReadOnly refuses an existing file at path (given by flag) that is
// read-only by its permission bits, on a read-only file system, or that
// this user cannot replace: replacing it is what a rerun does, but whoever
// made it read-only asked for it to be kept (the rename that replaces it
// would not ask; export has --force for this, train another name), and
// the others would fail only after the first epoch. A rename can replace
// a file when its folder can be written (checkOutFile), except in a
// folder with the sticky bit (such as /tmp) where neither the file nor
// the folder is this user's.
func refuseReadOnly(flag, path string) error {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return nil
	}
	name, path := linkName(path)
	var what, fix string
	switch {
	case st.Mode().Perm()&0o222 == 0:
		what = fmt.Sprintf("is read-only (mode %04o)", st.Mode().Perm())
		fix = fmt.Sprintf("make it writable (%s)", shell.MakeWritable(path))
	case onReadOnlyFS(path):
		what, fix = "is on a read-only file system", "mount it writable"
	case fileutil.OthersInSticky(path, st):
		other := flag // --resume in place: the continued run goes to --out
		if flag == "--resume" {
			other = "--out"
		}
		return usageErrorf("%s %s: belongs to another user, in a folder with the sticky bit (such as /tmp), so this run could not replace it (it would fail after its first epoch); give %s another name, or have the file's owner move it away", flag, name, other)
	default:
		return nil
	}
	if flag == "--resume" { // the caller adds the other way: --out
		return usageErrorf("%s %s: %s; %s to continue the run in it", flag, name, what, fix)
	}
	return usageErrorf("%s %s: %s, and this run would replace it; give %s another name to keep it, or %s to replace it", flag, name, what, flag, fix)
}

// linkName names path for a message: with its target when it is a
// symbolic link, "P (a link to T)", since the target is what a rename
// through it replaces; and returns that target (path itself otherwise).
func linkName(path string) (name, target string) {
	if lst, err := os.Lstat(path); err == nil && lst.Mode()&os.ModeSymlink != 0 {
		if to, err := filepath.EvalSymlinks(path); err == nil {
			return fmt.Sprintf("%s (a link to %s)", path, to), to
		}
	}
	return path, path
}

// refuseForeign refuses an existing file at path (given by flag) that is
// not what the command writes there (what; ours tells by the file's first
// bytes): replacing an earlier checkpoint or metrics file is what a rerun
// does, but a file of another kind would be lost. A missing or empty file
// is fine.
func refuseForeign(flag, path, what string, ours func(head []byte) bool) error {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return usageErrorf("%s %s: %v", flag, path, unwrapPath(err))
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, head)
	if !ours(head[:n]) {
		return usageErrorf("%s %s: exists and is not %s; writing there would destroy it: choose another name, or move that file away", flag, path, what)
	}
	return nil
}

// isMetrics tells a metrics file train wrote: its first line is an
// epoch's (its number, seconds, images/s and images, which every epoch's
// line has), a --seeds run's result of a seed (the seed and its test
// accuracy) or its summary (seeds and mean). Other JSON lines (a log, a
// study's run record) are not taken for one: they would be replaced.
func isMetrics(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	var l struct {
		Epoch        *float64 `json:"epoch"`
		Seconds      *float64 `json:"seconds"`
		ImagesPerSec *float64 `json:"images_per_sec"`
		Images       *float64 `json:"images"`
		Seed         *float64 `json:"seed"`
		Result       *struct {
			TestAcc *float64 `json:"test_acc"`
		} `json:"result"`
		Summary *struct {
			Seeds *float64 `json:"seeds"`
			Mean  *float64 `json:"mean_test_acc"`
		} `json:"summary"`
	}
	if json.Unmarshal(bytes.TrimPrefix(line, []byte("\ufeff")), &l) != nil {
		return false
	}
	return l.Epoch != nil && l.Seconds != nil && l.ImagesPerSec != nil && l.Images != nil ||
		l.Seed != nil && l.Result != nil && l.Result.TestAcc != nil ||
		l.Summary != nil && l.Summary.Seeds != nil && l.Summary.Mean != nil
}

// checkSpace refuses a run whose checkpoints (outs, written one run after
// the other) do not fit in the free space of their file systems, before
// any training: a full disk would otherwise fail the first checkpoint
// after its epoch had trained. A run of epochs writes its checkpoint after
// every epoch, each beside the one before until the rename: size bytes,
// and its last one last (the weights alone where its schedule ends: a
// third of size with Adam's moments). While it runs, a file system holds
// the runs' before it last checkpoints and, at most, two of size of its
// own (the one before and the next: an interrupted run saves a whole
// checkpoint in the middle of an epoch too), or one beside the file it
// replaces for a run of one epoch. The temporary files of a target left by
// a writer that was killed are removed first (its first write would remove
// them): their space is free. Where the free space cannot be read, nothing
// is refused for it. A checkpoint larger than the process may write a file
// (ulimit -f) is refused too. name is what the error names (--out's value).
func checkSpace(name string, outs []string, size, last int64, epochs int) error {
	if limit, hard, ok := fileLimit(); ok && uint64(size) > limit {
		takes, most := megabytes(uint64(size)), megabytes(limit)
		if takes == most {
			takes, most = fmt.Sprintf("%d bytes", size), fmt.Sprintf("%d bytes", limit)
		}
		fix := "raise it, e.g. ulimit -f unlimited, and run again"
		switch {
		case os.Geteuid() == 0:
		case hard < uint64(size):
			fix = fmt.Sprintf("its hard limit (ulimit -Hf) is %s, which only root can raise", megabytes(hard))
		case hard != math.MaxUint64:
			fix = fmt.Sprintf("raise it as far as its hard limit allows (%s: ulimit -f $(ulimit -Hf)), and run again", megabytes(hard))
		}
		return usageErrorf("%s: a checkpoint of this run takes %s, and this process may write files of %s at most (the limit ulimit -f sets): %s",
			name, takes, most, fix)
	}
	type fsNeed struct {
		dir        string
		free       uint64
		need, kept int64 // the most needed at once; what the runs before keep
	}
	var order []uint64
	byDev := map[uint64]*fsNeed{}
	for _, out := range outs {
		if t, err := fileutil.WriteTarget(out); err == nil {
			out = t // where a link leads: its folder is written
		}
		fileutil.RemoveStale(out)
		dir := existingFolder(filepath.Dir(out))
		free, dev, ok := freeSpace(dir)
		if !ok {
			continue
		}
		n := byDev[dev]
		if n == nil {
			n = &fsNeed{dir: dir, free: free}
			byDev[dev] = n
			order = append(order, dev)
		}
		var old int64 // the file the run replaces, on the disk already
		if st, err := os.Stat(out); err == nil && st.Mode().IsRegular() {
			old = st.Size()
		}
		peak := size // its checkpoint beside the file it replaces, or alone
		if epochs >= 2 {
			peak = max(size, 2*size-old) // two of size at once
		}
		n.need = max(n.need, n.kept+peak)
		n.kept += last - old
	}
	for _, dev := range order {
		n := byDev[dev]
		if n.need <= 0 || n.free >= uint64(n.need) {
			continue
		}
		need := uint64(n.need)
		free, needed := megabytes(n.free), megabytes(need)
		if free == needed {
			free, needed = fmt.Sprintf("%d bytes", n.free), fmt.Sprintf("%d bytes", need)
		}
		takes := megabytes(uint64(size))
		if last != size {
			takes = fmt.Sprintf("%s, a finished run's last %s", takes, megabytes(uint64(last)))
		}
		return usageErrorf("%s: the file system of %s has %s free, and the run needs %s there (a checkpoint takes %s, and each is written beside the one it replaces first): free some space there, or give --out a folder on another disk",
			name, n.dir, free, needed, takes)
	}
	return nil
}

// existingFolder is dir, or the nearest folder above it that exists (the
// one a new folder for --out would be made in).
func existingFolder(dir string) string {
	for {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			return dir
		}
		dir = up
	}
}

// megabytes is n bytes in MB (10^6), to one decimal (to the byte where
// that is less than 0.1 MB, so that two figures that differ do not read
// alike).
func megabytes(n uint64) string {
	if n < 100000 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
