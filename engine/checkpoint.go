// checkpoint.go: checkpoints in the safetensors layout (8-byte little-endian
// header length, a JSON header giving each tensor's dtype, shape and byte
// offsets plus a __metadata__ map of strings, then raw little-endian data),
// so PyTorch (safetensors.torch.load_file) and NumPy users can read the
// weights. cnngpu adds its architecture, optimizer state, training position
// and a SHA-256 of the data to the metadata, and a SHA-256 of that metadata
// (metaSum; files written before it have none, and are range-checked
// alone), and verifies all of it on load.

package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/trace"
)

// The metadata layouts. A checkpoint whose training settings a build
// before format 2 would ignore on --resume (and so train otherwise)
// names format 2, which those builds refuse; every other checkpoint
// names format 1, which every build reads. This build reads both.
const (
	checkpointFormatPrefix = "cnngpu-checkpoint/"
	CheckpointFormat       = checkpointFormatPrefix + "1"
	// CheckpointFormat2 is format 1 whose config holds label smoothing
	// or a warp (rotation, scale) of the training images.
	CheckpointFormat2 = checkpointFormatPrefix + "2"
)

// ErrLaterFormat marks a checkpoint in a format that only a later cnngpu
// reads: it is to be kept, not replaced by training it again.
var ErrLaterFormat = errors.New("written by a later cnngpu")

// LaterSettings tells whether a run of label smoothing ls and
// augmentation a uses what builds before checkpoint format 2 (and before
// study.json version 2) do not know, and would train without: such a
// run's files are written in the later format, which those builds refuse.
func LaterSettings(ls float64, a Augmentation) bool {
	return ls != 0 || a.Rotate != 0 || a.Scale != 0
}

// format is the metadata layout c is written in: format 1 unless its
// config holds what builds reading format 1 alone do not know.
func (c *Checkpoint) format() string {
	if LaterSettings(c.Config.LabelSmoothing, c.Config.Augmentation) {
		return CheckpointFormat2
	}
	return CheckpointFormat
}

// TrainConfig is what a run was asked to do; a checkpoint keeps it so that
// --resume continues the same run.
type TrainConfig struct {
	Epochs     int     `json:"epochs"`
	BatchSize  int     `json:"batch_size"`
	Seed       uint64  `json:"seed"`
	ValSplit   float64 `json:"val_split"`
	TrainLimit int     `json:"train_limit"`
	// Recipe names the recipe the run started from (RecipeNames); the
	// parts below and the optimizer's schedule say what it was after any
	// flag overrode a part. Empty in checkpoints older than recipes: those
	// ran the reference recipe.
	Recipe string `json:"recipe,omitempty"`
	// Augmentation is Gather's: the translation in pixels and the warp (0:
	// none; the warp absent in checkpoints older than it).
	Augmentation
	// LabelSmoothing is the training steps' label smoothing (0: one-hot
	// targets, and absent in checkpoints older than it).
	LabelSmoothing float64 `json:"label_smoothing,omitempty"`
	// Data is the training set's fingerprint (loader.Set.Fingerprint)
	// and DataDir the folder it was read from; empty in checkpoints older
	// than them.
	Data    string `json:"data,omitempty"`
	DataDir string `json:"data_dir,omitempty"`
}

// Checkpoint is a model's full training state on the host.
type Checkpoint struct {
	Arch     Arch
	Opt      OptConfig
	Config   TrainConfig
	Position Position // the next step to run
	Params   []float32
	S1, S2   []float32 // optimizer state; nil when not saved
	Step     float32   // optimizer step count
	History  []EpochMetrics
	// moments: the optimizer state's buffers of the checkpoint a
	// weights-only snapshot read into (SnapshotWeightsInto), kept for
	// the next SnapshotInto to reuse.
	moments [2][]float32
	// land waits for the tensors of a checkpoint SnapshotBeside queued
	// (LaterReader) and returns the copies' error; nil: they are there.
	land func() error
}

// StepCountMismatch says how c's optimizer step count differs from the
// one its position means at steps an epoch ("" where they agree, or c
// keeps no optimizer state): Adam's bias correction counts the steps, so
// a count that is not the position's (a file edited, its checksums
// written again, or a run of other data) would go on with other steps
// than the run's.
func (c *Checkpoint) StepCountMismatch(steps int) string {
	want := c.Position.Epoch*steps + c.Position.Step
	if c.S1 == nil || c.Step == float32(want) {
		return ""
	}
	return fmt.Sprintf("its optimizer has taken %v steps, but its position (epoch %d, step %d, of %d steps an epoch) means %d",
		c.Step, c.Position.Epoch+1, c.Position.Step, steps, want)
}

// Landed waits until the checkpoint's tensors are on the host (at once,
// but for one SnapshotBeside made on an engine that queues its work) and
// returns the read-back's error. CheckFinite, Encode and Save call it
// first; other reads of the tensors must. Safe to call more than once,
// from one goroutine at a time.
func (c *Checkpoint) Landed() error {
	if c.land == nil {
		return nil
	}
	if err := c.land(); err != nil {
		return fmt.Errorf("%w: %w", ErrReadBack, err)
	}
	return nil
}

// ErrReadBack matches (errors.Is) Landed's error: the engine failed to
// copy the model back, which says nothing of the file it was to go to.
var ErrReadBack = errors.New("reading the model back from the engine")

type archMeta struct {
	Arch
	Activation string `json:"activation"`
}

type optMeta struct {
	Kind     string  `json:"kind"`
	LR       float32 `json:"lr"`
	Beta1    float32 `json:"beta1,omitempty"`
	Beta2    float32 `json:"beta2,omitempty"`
	Eps      float32 `json:"eps,omitempty"`
	Momentum float32 `json:"momentum,omitempty"`
	// Schedule is absent for the constant rate (and in checkpoints older
	// than schedules).
	Schedule *Schedule `json:"schedule,omitempty"`
}

// OptName is the flag spelling of an optimizer kind.
func OptName(k OptKind) string {
	if k == SGD {
		return "sgd"
	}
	return "adam"
}

type stEntry struct {
	Dtype       string `json:"dtype"`
	Shape       []int  `json:"shape"`
	DataOffsets []int  `json:"data_offsets"` // start and end (two: checked on reading)
}

// Snapshot reads a model's state into a Checkpoint.
func Snapshot(m *Model, cfg TrainConfig, pos Position, history []EpochMetrics) (*Checkpoint, error) {
	return SnapshotInto(nil, m, cfg, pos, history)
}

// SnapshotInto is Snapshot reading the model's tensors into old's, where
// old (a checkpoint of the same model that nothing uses any longer) has
// them of the right lengths: a training's checkpoint after every epoch
// then allocates, and the system maps, no new memory. old may be nil.
func SnapshotInto(old *Checkpoint, m *Model, cfg TrainConfig, pos Position, history []EpochMetrics) (*Checkpoint, error) {
	return snapshotInto(old, m, cfg, pos, history, true)
}

// SnapshotWeightsInto is SnapshotInto without the optimizer's state (S1
// and S2 nil), for a run's last checkpoint where no training can go on
// from it: a third of the bytes to read back and write with Adam, half
// with SGD. The state's
// buffers of old stay with the result, for the next SnapshotInto.
func SnapshotWeightsInto(old *Checkpoint, m *Model, cfg TrainConfig, pos Position, history []EpochMetrics) (*Checkpoint, error) {
	return snapshotInto(old, m, cfg, pos, history, false)
}

// SnapshotBeside is SnapshotInto (state: with the optimizer's state) or
// SnapshotWeightsInto (!state), except on an engine that queues its work
// (LaterReader: a GPU), where it only queues the read-back of the tensors
// and returns: they land while the work queued after runs (a training's
// next epoch), and the checkpoint's methods (CheckFinite, Encode, Save:
// on a CheckpointWriter's goroutine) wait for them first; Landed waits
// and reports a failed copy. Nothing else may read its tensors before.
func SnapshotBeside(old *Checkpoint, m *Model, cfg TrainConfig, pos Position, history []EpochMetrics, state bool) (*Checkpoint, error) {
	r, ok := m.E.(LaterReader)
	if !ok {
		return snapshotInto(old, m, cfg, pos, history, state)
	}
	ck, srcs, dsts, err := snapshotPlan(old, m, cfg, pos, history, state)
	if err != nil {
		return nil, err
	}
	if ck.land, err = r.ReadLater(srcs, dsts); err != nil {
		return nil, err
	}
	return ck, nil
}

// snapshotPlan makes the checkpoint a snapshot fills (the step count read
// already) and lists the tensors it reads and where each goes: the
// checkpoint's own buffers, of its tensor's length, old's where they fit.
func snapshotPlan(old *Checkpoint, m *Model, cfg TrainConfig, pos Position, history []EpochMetrics, state bool) (*Checkpoint, []Tensor, [][]float32, error) {
	if old == nil {
		old = &Checkpoint{}
	}
	ck := &Checkpoint{Arch: m.Arch, Opt: m.Opt, Config: cfg, Position: pos, History: history}
	var err error
	// The step count first: a read of the engine's that waits for its
	// queue, before the copies queued after it.
	if ck.Step, err = m.step(); err != nil {
		return nil, nil, nil, err
	}
	ck.Params = sized(old.Params, m.P.Len())
	srcs, dsts := []Tensor{m.P}, [][]float32{ck.Params}
	b1, b2 := old.S1, old.S2
	if b1 == nil {
		b1, b2 = old.moments[0], old.moments[1]
	}
	if !state {
		ck.moments = [2][]float32{b1, b2}
		return ck, srcs, dsts, nil
	}
	ck.S1 = sized(b1, m.S1.Len())
	srcs, dsts = append(srcs, m.S1), append(dsts, ck.S1)
	if m.S2 != nil {
		ck.S2 = sized(b2, m.S2.Len())
		srcs, dsts = append(srcs, m.S2), append(dsts, ck.S2)
	}
	return ck, srcs, dsts, nil
}

// sized is buf where it holds n floats, else a new slice of n.
func sized(buf []float32, n int) []float32 {
	if len(buf) != n {
		return make([]float32, n)
	}
	return buf
}

func snapshotInto(old *Checkpoint, m *Model, cfg TrainConfig, pos Position, history []EpochMetrics, state bool) (*Checkpoint, error) {
	ck, srcs, dsts, err := snapshotPlan(old, m, cfg, pos, history, state)
	if err != nil {
		return nil, err
	}
	for i, t := range srcs {
		if err := m.E.Read(t, 0, dsts[i]); err != nil {
			return nil, err
		}
	}
	return ck, nil
}

type namedData struct {
	name  string
	shape []int
	data  []float32
}

func (c *Checkpoint) tensors() []namedData {
	var out []namedData
	for _, s := range c.Arch.Params() {
		out = append(out, namedData{s.Name, s.Shape, c.Params[s.Off : s.Off+s.Len()]})
	}
	if c.S1 != nil {
		out = append(out, namedData{"optimizer.s1", []int{len(c.S1)}, c.S1})
	}
	if c.S2 != nil {
		out = append(out, namedData{"optimizer.s2", []int{len(c.S2)}, c.S2})
	}
	out = append(out, namedData{"optimizer.step", []int{1}, []float32{c.Step}})
	return out
}

// Encode returns the checkpoint file's bytes.
func (c *Checkpoint) Encode() ([]byte, error) {
	head, parts, err := c.encode()
	if err != nil {
		return nil, err
	}
	n := len(head)
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	out = append(out, head...)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, nil
}

// encode returns the checkpoint file in pieces: the header (its length
// and JSON) and the tensors' data, one piece per tensor, which on a
// little-endian machine are the checkpoint's own tensors seen as bytes
// (not copied: they must not change until the pieces are written).
func (c *Checkpoint) encode() (head []byte, parts [][]byte, err error) {
	l, err := c.layout()
	if err != nil {
		return nil, nil, err
	}
	head, err = l.header(sumData(l.parts))
	return head, l.parts, err
}

// fileLayout is a checkpoint file but for its header's checksums of the
// data: the tensors' bytes and the rest of the header.
type fileLayout struct {
	parts  [][]byte
	header func(dataSums) ([]byte, error) // the header (its length and JSON) holding sums
}

// dataSums are the checksums of a checkpoint's data the header holds: a
// SHA-256 (for builds from before 2026-12-04) and a CRC-32C (what this
// build checks), in hex.
type dataSums struct{ sha256, crc32c string }

// placeholderSums are checksums of the lengths real ones have: the header
// holding them is exactly as long as the header holding the real ones.
var placeholderSums = dataSums{strings.Repeat("0", 64), strings.Repeat("0", 8)}

// sumData is the checksums of the data parts, in order.
func sumData(parts [][]byte) dataSums {
	h := sha256.New()
	var crc uint32
	for _, b := range parts {
		h.Write(b)
		crc = crc32.Update(crc, castagnoli, b)
	}
	return dataSums{hex.EncodeToString(h.Sum(nil)), fmt.Sprintf("%08x", crc)}
}

// layout is the checkpoint's file but for the checksums (encode), waiting
// for the tensors read back beside to land.
func (c *Checkpoint) layout() (*fileLayout, error) {
	if err := c.Landed(); err != nil {
		return nil, err
	}
	if len(c.Params) != c.Arch.NumParams() {
		return nil, fmt.Errorf("checkpoint: %d parameters for an architecture of %d", len(c.Params), c.Arch.NumParams())
	}
	ts := c.tensors()
	entries := map[string]any{}
	var parts [][]byte
	size := 0
	for _, t := range ts {
		b := floatBytes(t.data)
		parts = append(parts, b)
		entries[t.name] = stEntry{Dtype: "F32", Shape: t.shape, DataOffsets: []int{size, size + len(b)}}
		size += len(b)
	}
	am, _ := json.Marshal(archMeta{c.Arch, c.Arch.Act.String()})
	omv := optMeta{Kind: OptName(c.Opt.Kind), LR: c.Opt.LR, Beta1: c.Opt.Beta1, Beta2: c.Opt.Beta2, Eps: c.Opt.Eps, Momentum: c.Opt.Momentum}
	if c.Opt.Sched.Kind != ConstantLR {
		omv.Schedule = &c.Opt.Sched
	}
	om, _ := json.Marshal(omv)
	cm, _ := json.Marshal(c.Config)
	pm, err := json.Marshal(c.Position)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: position: %w", err)
	}
	hm, err := json.Marshal(c.History)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: history: %w", err)
	}
	header := func(sums dataSums) ([]byte, error) {
		meta := map[string]string{
			"format":    c.format(),
			"arch":      string(am),
			"optimizer": string(om),
			"config":    string(cm),
			"position":  string(pm),
			"history":   string(hm),
			"sha256":    sums.sha256,
			"crc32c":    sums.crc32c,
		}
		meta["meta_sha256"] = metaSum(meta)
		header := maps.Clone(entries)
		header["__metadata__"] = meta
		hb, err := json.Marshal(header)
		if err != nil {
			return nil, err
		}
		// Pad the header with spaces so the data starts 8-byte aligned.
		for (8+len(hb))%8 != 0 {
			hb = append(hb, ' ')
		}
		if len(hb) > MaxCheckpointHeader {
			// Its reader would refuse it: not written.
			return nil, fmt.Errorf("checkpoint: a header of %d bytes (the history of %d epochs), more than the %d a checkpoint may have: train fewer epochs a run",
				len(hb), len(c.History), MaxCheckpointHeader)
		}
		head := make([]byte, 8, 8+len(hb))
		binary.LittleEndian.PutUint64(head, uint64(len(hb)))
		return append(head, hb...), nil
	}
	return &fileLayout{parts: parts, header: header}, nil
}

// floatBytes is v as little-endian float32 bytes: v's own memory where
// the machine is little-endian, else a converted copy.
func floatBytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
	}
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// littleEndian reports whether this machine stores numbers little-endian.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Save writes the checkpoint atomically (temporary file and rename). It
// refuses one holding NaN or infinite values (see finite.go), leaving the
// file at path as it was.
func (c *Checkpoint) Save(path string) error {
	sp := trace.Begin(trace.CheckpointCheck)
	err := c.CheckFinite()
	sp.End()
	if err != nil {
		return fmt.Errorf("checkpoint not saved: %w", err)
	}
	l, err := c.layout()
	if err != nil {
		return err
	}
	// The header holds the data's checksums, but its length does not
	// depend on them: the file is written with placeholder sums while the
	// real ones are computed beside (a SHA-256 of the 12.7 MB of a
	// finished run's weights takes about 10 ms, the write about as long),
	// and the header is rewritten in place before the file is synced.
	head, err := l.header(placeholderSums)
	if err != nil {
		return err
	}
	ch := make(chan dataSums, 1)
	go func() {
		defer trace.Aside()()
		defer trace.Begin(trace.CheckpointSums).End()
		ch <- sumData(l.parts)
	}()
	// That goroutine reads the tensors: it is done before Save returns,
	// whatever fails.
	sums := sync.OnceValue(func() dataSums { return <-ch })
	defer sums()
	// (WriteAtomicSet refuses a header of another length: the write fails.)
	final := func() ([]byte, error) { return l.header(sums()) }
	defer trace.Begin(trace.CheckpointFile).End()
	if dir := filepath.Dir(path); dir != "" {
		if err := fileutil.MakeDirs(dir, 0o755); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return fileutil.WriteAtomicSet([]fileutil.File{{Path: path, Data: head, Perm: 0o644, Parts: l.parts, Final: final}})
}

// MaxCheckpointBytes bounds a checkpoint file: the largest preset's
// parameters with both of Adam's moments (38 MB for the reference
// architecture) and MaxCheckpointHeader for the header: 143 MB. A larger file,
// or a device, is refused before it is read, and a pipe is read no
// further (the bound was 4 GiB, which a pipe of zeros filled in memory).
var MaxCheckpointBytes = checkpointBound()

// MaxCheckpointHeader is the most a checkpoint's header may hold, written
// or read: a 10-epoch run's is under 3 KB, its history about 220 bytes an
// epoch (JSON inside a JSON string), so this holds some 450,000 epochs'.
const MaxCheckpointHeader = 100 << 20

// checkpointBound is the largest checkpoint any preset can write.
func checkpointBound() int64 {
	most := 0
	for _, p := range Presets {
		a, err := NewArch(p, ReLU)
		if err != nil {
			panic("engine: preset " + p + " does not build")
		}
		most = max(most, a.NumParams())
	}
	return 8 + MaxCheckpointHeader + 3*4*int64(most)
}

// LoadCheckpoint reads and verifies a checkpoint file, refusing one that
// holds NaN or infinite values.
func LoadCheckpoint(path string) (*Checkpoint, error) { return load(path, decodeAll) }

// LoadWeights is LoadCheckpoint for a model that is only used (eval,
// predict, serve, export): the whole file is read and verified, but the
// optimizer's state is not decoded (S1 and S2 stay nil), which takes two
// thirds of an Adam checkpoint's time and memory.
func LoadWeights(path string) (*Checkpoint, error) { return load(path, decodeWeights) }

// LoadHeader reads a checkpoint's run (architecture, optimizer, settings,
// position, history), checked against the metadata's own checksum, and
// neither decodes nor checks its tensors (Params, S1 and S2 stay nil):
// for what a note says about a file (a run finished or not), in a
// millisecond where LoadWeights reads and checks megabytes. What uses
// the model loads it whole.
func LoadHeader(path string) (*Checkpoint, error) { return load(path, decodeHeader) }

// decodePart is how much of a checkpoint decodeCheckpoint decodes.
type decodePart int

const (
	decodeAll     decodePart = iota // the whole file, checked
	decodeWeights                   // the whole file checked, the optimizer's moments not decoded
	decodeHeader                    // the metadata alone (LoadHeader)
)

func load(path string, part decodePart) (*Checkpoint, error) {
	defer trace.Begin(trace.ReadCheckpoint).End()
	// The file is mapped, not read into new memory: decoding copies the
	// tensors out of it.
	var c *Checkpoint
	var bad error // the file's contents are not a checkpoint's
	err := fileutil.UseFile(path, MaxCheckpointBytes, func(b []byte) error {
		var err error
		if c, err = decodeCheckpoint(b, part); err != nil {
			if kind := otherFileKind(b); kind != "" {
				bad = fmt.Errorf("%s: %s, not a cnngpu checkpoint (the .safetensors file 'cnngpu train' writes): give the checkpoint itself", path, kind)
			} else if errors.Is(err, ErrLaterFormat) {
				bad = fmt.Errorf("%s: %w", path, err)
			} else {
				bad = fmt.Errorf("%s: %w (is it a cnngpu checkpoint? a damaged file must be re-created by training)", path, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if bad != nil {
		return nil, bad
	}
	if part == decodeHeader {
		return c, nil
	}
	if err := c.CheckFinite(); err != nil {
		return nil, fmt.Errorf("%s: %w; the run that wrote it diverged and the model can only answer NaN: retrain with a smaller --lr", path, err)
	}
	return c, nil
}

// LooksLikeCheckpoint tells whether b starts as a cnngpu checkpoint does
// (a safetensors header length, then the header's JSON with cnngpu's
// metadata near its start), for a checkpoint given where an image was
// expected; b may be the file's first part only.
func LooksLikeCheckpoint(b []byte) bool {
	return len(b) >= 10 && b[8] == '{' && hasCheckpointMeta(b[8:])
}

// hasCheckpointMeta tells whether cnngpu's metadata stands in the first
// 64 KiB of b.
func hasCheckpointMeta(b []byte) bool {
	head := b[:min(len(b), 1<<16)]
	return bytes.Contains(head, []byte(`"__metadata__"`)) && bytes.Contains(head, []byte(checkpointFormatPrefix))
}

// otherFileKind names the kind of file b is, by its first bytes, where
// it is one a user may give for a checkpoint by mistake (an export, an
// image, MNIST's data, a PyTorch file); "" where it is none of them (then
// it may be a damaged checkpoint).
func otherFileKind(b []byte) string {
	if LooksLikeCheckpoint(b) {
		return "" // a checkpoint damaged in its first bytes
	}
	switch {
	case bytes.HasPrefix(b, []byte("\x93NUMPY")):
		return "is a NumPy .npy file (an export)"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")), bytes.HasPrefix(b, []byte("\xff\xd8\xff")), bytes.HasPrefix(b, []byte("GIF8")):
		return "is an image (to classify it: cnngpu predict --model CHECKPOINT IMAGE)"
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return "is a gzip file"
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		return "is a zip archive (a PyTorch .pt/.pth file is one)"
	case len(b) >= 4 && (binary.BigEndian.Uint32(b) == 0x801 || binary.BigEndian.Uint32(b) == 0x803):
		return "is an MNIST IDX file"
	case len(b) >= 2 && b[0] == 0x08 && b[1] < 0x80 && bytes.Contains(b[:min(len(b), 64)], []byte("cnngpu")):
		return "is an ONNX model (an export)"
	case len(b) > 0 && (b[0] == '{' || b[0] == '['):
		return "is a JSON file"
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}), bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		return "is a text file (UTF-16)"
	case len(b) >= 4 && isText(b[:min(len(b), 512)]) && !hasCheckpointMeta(b):
		// A checkpoint's first 8 bytes, its header's length, hold NULs
		// from the fourth on (a header under 16 MiB): text, even with
		// '{' ninth, is no checkpoint. (A checkpoint cut to 1–3 bytes
		// may look like text.)
		return "is a text file"
	case len(b) <= 8 || b[8] == '{' || damagedCheckpoint(b):
		return ""
	default:
		// A safetensors file's JSON header starts at its ninth byte.
		return "is another kind of file (a safetensors file's header starts at its ninth byte, with '{')"
	}
}

// damagedCheckpoint tells whether b, not a safetensors file from its
// ninth byte, still looks like a damaged checkpoint: its metadata further
// on, or its first bytes zeroed (as a crash leaves a file's blocks).
func damagedCheckpoint(b []byte) bool {
	return hasCheckpointMeta(b) || !slices.ContainsFunc(b[:9], func(c byte) bool { return c != 0 })
}

// isText tells whether b, a file's start, is text: UTF-8, or an 8-bit
// encoding such as Latin-1 (a byte from 0x80 up that is no UTF-8), without
// control characters other than tabs, line and page breaks.
func isText(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' || r == 0x7f {
			return false
		}
		b = b[n:]
	}
	return true
}

// laterFormat tells whether format f is a later cnngpu's: the prefix
// and a version above 2, in metadata whose own checksum holds (a format
// damaged into another version, or edited, is not one).
func laterFormat(f string, meta map[string]string) bool {
	n, err := strconv.Atoi(strings.TrimPrefix(f, checkpointFormatPrefix))
	return strings.HasPrefix(f, checkpointFormatPrefix) && err == nil && n > 2 && meta["meta_sha256"] == metaSum(meta)
}

// metaKeys are the metadata entries metaSum covers, in its order.
var metaKeys = []string{"format", "arch", "optimizer", "config", "position", "history", "sha256"}

// metaSum is the SHA-256 of the metadata entries in metaKeys, each as its
// key, a NUL, its value and a NUL. It leaves out "crc32c", so that builds
// from before it load the files written since: a CRC-32C damaged in the
// file fails against the data all the same.
func metaSum(meta map[string]string) string {
	h := sha256.New()
	for _, k := range metaKeys {
		h.Write([]byte(k + "\x00" + meta[k] + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// castagnoli is CRC-32C's table: the data's quick checksum, which
// processors compute in hardware (some 10 GB/s, against SHA-256's 0.5 to
// 2), so that a checkpoint is verified in milliseconds when it is loaded.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DecodeCheckpoint parses and verifies checkpoint bytes.
func DecodeCheckpoint(b []byte) (*Checkpoint, error) { return decodeCheckpoint(b, decodeAll) }

// decodeCheckpoint is DecodeCheckpoint; with decodeWeights, the
// optimizer's moments are checked to be there as the optimizer needs
// them, but not decoded; with decodeHeader, it returns once the metadata
// is read and checked.
func decodeCheckpoint(b []byte, part decodePart) (*Checkpoint, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("truncated: %d bytes, a safetensors file starts with an 8-byte header length", len(b))
	}
	hlen := binary.LittleEndian.Uint64(b)
	if hlen > uint64(len(b)-8) || hlen > MaxCheckpointHeader {
		return nil, fmt.Errorf("truncated or not safetensors: header length %d, file has %d bytes after it", hlen, len(b)-8)
	}
	hb := b[8 : 8+hlen]
	data := b[8+hlen:]
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hb, &raw); err != nil {
		return nil, fmt.Errorf("bad safetensors header: %v", err)
	}
	var meta map[string]string
	if err := json.Unmarshal(raw["__metadata__"], &meta); err != nil || meta == nil {
		return nil, fmt.Errorf("no cnngpu metadata in the safetensors header")
	}
	switch f := meta["format"]; {
	case f == CheckpointFormat, f == CheckpointFormat2:
	case laterFormat(f, meta):
		return nil, fmt.Errorf("metadata format %q: %w: this build reads %q and %q (use the cnngpu that wrote it, or a later one)", f, ErrLaterFormat, CheckpointFormat, CheckpointFormat2)
	default:
		return nil, fmt.Errorf("metadata format %q, expected %q or %q", f, CheckpointFormat, CheckpointFormat2)
	}
	entries := map[string]stEntry{}
	type span struct{ a, b int }
	var spans []span
	// In name order, so that a damaged file is named the same way each
	// time it is read.
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		r := raw[name]
		if name == "__metadata__" {
			continue
		}
		var e stEntry
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, fmt.Errorf("tensor %s: bad header entry: %v", name, err)
		}
		if len(e.DataOffsets) != 2 {
			return nil, fmt.Errorf("tensor %s: bad header entry: data_offsets %v, expected two offsets (start and end)", name, e.DataOffsets)
		}
		if e.Dtype != "F32" {
			return nil, fmt.Errorf("tensor %s has dtype %s, expected F32", name, e.Dtype)
		}
		n := 1
		for _, d := range e.Shape {
			if d < 0 || d > 1<<30 || d > 0 && int64(n) > int64(1)<<40/int64(d) {
				return nil, fmt.Errorf("tensor %s: bad shape %v", name, e.Shape)
			}
			n *= d
		}
		if e.DataOffsets[0] < 0 || e.DataOffsets[1] > len(data) || e.DataOffsets[1]-e.DataOffsets[0] != 4*n {
			return nil, fmt.Errorf("truncated or corrupt: tensor %s spans bytes %v of a %d-byte data section, shape %v needs %d", name, e.DataOffsets, len(data), e.Shape, 4*n)
		}
		entries[name] = e
		spans = append(spans, span{e.DataOffsets[0], e.DataOffsets[1]})
	}
	slices.SortFunc(spans, func(x, y span) int { return x.a - y.a })
	end := 0
	for _, s := range spans {
		switch {
		case s.a > end:
			return nil, fmt.Errorf("corrupt: bytes %d to %d of the tensor data are no tensor's (one left out of the header?)", end, s.a)
		case s.a < end:
			return nil, fmt.Errorf("corrupt: two tensors' data overlap at byte %d", s.a)
		}
		end = s.b
	}
	if end != len(data) {
		return nil, fmt.Errorf("corrupt: %d bytes of data after the last tensor", len(data)-end)
	}
	if _, ok := meta["crc32c"]; !ok && meta["sha256"] == "" {
		return nil, fmt.Errorf("corrupt: the metadata has no checksum (SHA-256 or CRC-32C) of the tensor data")
	}
	ms, ok := meta["meta_sha256"]
	if _, crc := meta["crc32c"]; (crc || meta["format"] == CheckpointFormat2) && !ok {
		// Files have held the metadata's sum since 2026-12-02, before
		// the CRC-32C (2026-12-04) and format 2 (2026-12-05): only
		// files of format 1 from before then lack it.
		return nil, fmt.Errorf("corrupt: the metadata has no checksum of its own (meta_sha256), which every file in format %s or with a CRC-32C of its data was written with: the file was edited or damaged", CheckpointFormat2)
	}
	if ok && ms != metaSum(meta) {
		return nil, fmt.Errorf("checksum mismatch: the metadata (architecture, optimizer, run settings, position, history) was changed after it was written: the file is corrupted")
	}
	c := &Checkpoint{}
	var am archMeta
	if err := json.Unmarshal([]byte(meta["arch"]), &am); err != nil {
		return nil, fmt.Errorf("bad arch metadata: %v", err)
	}
	act, err := ParseActivation(am.Activation)
	if err == nil && act == Identity {
		// The hidden layers' activations; identity is the output
		// layer's alone, and no run trains with it.
		err = fmt.Errorf("activation %q in the architecture metadata: expected relu, sigmoid or tanh", am.Activation)
	}
	if err != nil {
		return nil, err
	}
	arch, err := NewArch(am.Preset, act)
	if err != nil {
		return nil, err
	}
	if arch != (Arch{Preset: am.Preset, Kernel: am.Kernel, Pad: am.Pad, K1: am.K1, K2: am.K2, Hidden: am.Hidden, Act: act}) {
		return nil, fmt.Errorf("architecture metadata (%s) does not match preset %q (%s)", archFields(am.Arch), am.Preset, archFields(arch))
	}
	c.Arch = arch
	var om optMeta
	if err := json.Unmarshal([]byte(meta["optimizer"]), &om); err != nil {
		return nil, fmt.Errorf("bad optimizer metadata: %v", err)
	}
	c.Opt = OptConfig{LR: om.LR, Beta1: om.Beta1, Beta2: om.Beta2, Eps: om.Eps, Momentum: om.Momentum}
	if om.Schedule != nil {
		if err := om.Schedule.Validate(); err != nil {
			return nil, fmt.Errorf("optimizer metadata: %w", err)
		}
		c.Opt.Sched = *om.Schedule
	}
	switch om.Kind {
	case "adam":
		c.Opt.Kind = Adam
	case "sgd":
		c.Opt.Kind = SGD
	default:
		return nil, fmt.Errorf("unknown optimizer %q in metadata", om.Kind)
	}
	if err := json.Unmarshal([]byte(meta["config"]), &c.Config); err != nil {
		return nil, fmt.Errorf("bad config metadata: %v", err)
	}
	if err := c.Config.Augmentation.Check(); err != nil {
		return nil, fmt.Errorf("config metadata: augmentation: %w", err)
	}
	if err := CheckLabelSmoothing("config metadata: label smoothing", c.Config.LabelSmoothing); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(meta["position"]), &c.Position); err != nil {
		return nil, fmt.Errorf("bad position metadata: %v", err)
	}
	if h := meta["history"]; h != "" && h != "null" {
		// One record an epoch trained, each after the one before
		// (checkHistory): read no more than the position's epochs, so
		// that a header of empty records, 3 bytes each, cannot take a
		// hundred times its size to be refused.
		// (One record more is left to checkMeta, which says what is
		// wrong, as it does a position of negative epochs.)
		most := MaxEpochs + 1
		if c.Position.Epoch >= 0 {
			most = min(c.Position.Epoch, MaxEpochs) + 1
		}
		var err error
		if c.History, err = decodeHistory(h, most); err != nil {
			return nil, err
		}
	}
	if err := c.checkMeta(); err != nil {
		return nil, err
	}
	if part == decodeHeader {
		return c, nil
	}
	// decoded holds the tensors decoded, by name: the data's checksum is
	// taken over them, not over b again, so that what is checked is what
	// was decoded even where b (a mapped file) changes meanwhile.
	decoded := map[string][]float32{}
	// readInto decodes tensor name, of shape want, into dst (nil: a new
	// slice), and returns it.
	// entry is tensor name's entry, where it is there with shape want.
	entry := func(name string, want []int) (stEntry, error) {
		e, ok := entries[name]
		if !ok {
			return e, fmt.Errorf("tensor %s is missing", name)
		}
		if want != nil && !slices.Equal(e.Shape, want) {
			return e, fmt.Errorf("tensor %s has shape %v, the %s architecture needs %v", name, e.Shape, arch.Preset, want)
		}
		return e, nil
	}
	readInto := func(dst []float32, name string, want []int) ([]float32, error) {
		e, err := entry(name, want)
		if err != nil {
			return nil, err
		}
		seg := data[e.DataOffsets[0]:e.DataOffsets[1]]
		if dst == nil {
			dst = make([]float32, len(seg)/4)
		}
		if len(dst) != len(seg)/4 {
			return nil, fmt.Errorf("tensor %s holds %d values, expected %d", name, len(seg)/4, len(dst))
		}
		decoded[name] = dst
		if littleEndian {
			copy(floatBytes(dst), seg)
			return dst, nil
		}
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(seg[4*i:]))
		}
		return dst, nil
	}
	read := func(name string, want []int) ([]float32, error) { return readInto(nil, name, want) }
	// No checksum covers the header's tensor list, so the names are
	// checked against what Encode writes: a name damaged in the file would
	// otherwise drop a tensor unnoticed (and with it, on --resume, the
	// optimizer's state or step count).
	known := map[string]bool{"optimizer.s1": true, "optimizer.s2": true, "optimizer.step": true}
	for _, s := range arch.Params() {
		known[s.Name] = true
	}
	for name := range entries {
		if !known[name] {
			return nil, fmt.Errorf("corrupt: tensor %q is not one a checkpoint of the %s architecture holds", name, arch.Preset)
		}
	}
	c.Params = make([]float32, arch.NumParams())
	for _, s := range arch.Params() {
		if _, err := readInto(c.Params[s.Off:s.Off+s.Len()], s.Name, s.Shape); err != nil {
			return nil, err
		}
	}
	np := arch.NumParams()
	_, has1 := entries["optimizer.s1"]
	_, has2 := entries["optimizer.s2"]
	switch {
	case has2 && !has1:
		return nil, fmt.Errorf("corrupt: optimizer.s2 without optimizer.s1")
	case has1 && c.Opt.Kind == Adam && !has2:
		return nil, fmt.Errorf("corrupt: Adam's first moment (optimizer.s1) without its second (optimizer.s2)")
	case has2 && c.Opt.Kind != Adam:
		return nil, fmt.Errorf("corrupt: optimizer.s2 in a checkpoint of an %s run (only Adam keeps a second moment)", OptName(c.Opt.Kind))
	}
	for _, m := range []struct {
		has  bool
		name string
		dst  *[]float32
	}{{has1, "optimizer.s1", &c.S1}, {has2, "optimizer.s2", &c.S2}} {
		switch {
		case !m.has:
		case part == decodeWeights:
			if _, err := entry(m.name, []int{np}); err != nil {
				return nil, err
			}
		default:
			if *m.dst, err = read(m.name, []int{np}); err != nil {
				return nil, err
			}
		}
	}
	st, err := read("optimizer.step", []int{1})
	if err != nil {
		return nil, fmt.Errorf("corrupt: %w", err)
	}
	// The data's CRC-32C where the file has one (written since
	// 2026-12-04), else its SHA-256: either catches a damaged file. Taken
	// over the tensors as decoded, in the file's order (those not decoded,
	// the moments of a model only used, straight from b).
	names := slices.SortedFunc(maps.Keys(entries), func(x, y string) int { return entries[x].DataOffsets[0] - entries[y].DataOffsets[0] })
	h := sha256.New()
	var crc uint32
	want, useCRC := meta["crc32c"]
	for _, name := range names {
		seg := data[entries[name].DataOffsets[0]:entries[name].DataOffsets[1]]
		if v, ok := decoded[name]; ok {
			seg = floatBytes(v)
		}
		if useCRC {
			crc = crc32.Update(crc, castagnoli, seg)
		} else {
			h.Write(seg)
		}
	}
	if useCRC {
		if got := fmt.Sprintf("%08x", crc); got != want {
			return nil, fmt.Errorf("checksum mismatch: data CRC-32C %s, metadata says %s: the file is corrupted (or was written while it was read)", got, want)
		}
	} else if got := hex.EncodeToString(h.Sum(nil)); got != meta["sha256"] {
		return nil, fmt.Errorf("checksum mismatch: data SHA-256 %s, metadata says %s: the file is corrupted (or was written while it was read)", got, meta["sha256"])
	}
	c.Step = st[0]
	if !isCount(c.Step) {
		return nil, fmt.Errorf("corrupt: optimizer step count %v: expected a whole number, not negative", c.Step)
	}
	if i := slices.IndexFunc(c.S2, func(v float32) bool { return v < 0 }); i >= 0 {
		// A mean of squares: a value below 0 is no run's (Adam's square
		// root of it would be NaN, and the run said to have diverged).
		return nil, fmt.Errorf("corrupt: Adam's second moment (optimizer.s2) is %v at %d: expected none negative", c.S2[i], i)
	}
	return c, nil
}

// isCount reports whether v, a count kept as a float32 (the optimizer's
// steps, the images an epoch has seen), is one: whole, finite, not
// negative.
func isCount(v float32) bool {
	return v >= 0 && !math.IsInf(float64(v), 0) && float64(v) == math.Trunc(float64(v))
}

// archFields describes an architecture's sizes for an error message.
func archFields(a Arch) string {
	return fmt.Sprintf("%d×%d filters, padding %d, %d and %d channels, %d hidden units", a.Kernel, a.Kernel, a.Pad, a.K1, a.K2, a.Hidden)
}

// checkMeta range-checks what the metadata says of the run (the checksum
// covers it only in files written since metaSum): values no run writes
// would divide by zero, index out of range or train on nonsense.
func (c *Checkpoint) checkMeta() error {
	cfg, o, p := c.Config, c.Opt, c.Position
	inUnit := func(v float32) bool { return v >= 0 && v < 1 }
	switch {
	case cfg.BatchSize < 0 || cfg.BatchSize > c.Arch.MaxBatch():
		// 0: weights with no run recorded (they can be evaluated, not
		// resumed).
		return fmt.Errorf("config metadata: batch size %d: expected 1 to %d", cfg.BatchSize, c.Arch.MaxBatch())
	case cfg.Epochs < 0 || cfg.TrainLimit < 0:
		return fmt.Errorf("config metadata: %d epochs, train limit %d: expected neither negative", cfg.Epochs, cfg.TrainLimit)
	case cfg.Epochs > MaxEpochs:
		return fmt.Errorf("config metadata: %d epochs: expected at most %d", cfg.Epochs, MaxEpochs)
	case cfg.Recipe != "" && !slices.Contains(RecipeNames, cfg.Recipe):
		return fmt.Errorf("config metadata: recipe %q: expected one of %s", cfg.Recipe, strings.Join(RecipeNames, ", "))
	case !(cfg.ValSplit >= 0 && cfg.ValSplit < 1):
		return fmt.Errorf("config metadata: validation split %v: expected at least 0 and below 1", cfg.ValSplit)
	case p.Epoch < 0 || p.Step < 0:
		return fmt.Errorf("position metadata: epoch %d, step %d: expected neither negative", p.Epoch, p.Step)
	case cfg.Epochs == 0 && (p.Epoch > 0 || p.Step > 0):
		return fmt.Errorf("position metadata: epoch %d, step %d of a run of 0 epochs: expected none trained", p.Epoch, p.Step)
	case cfg.Epochs > 0 && (p.Epoch > cfg.Epochs || p.Epoch == cfg.Epochs && p.Step > 0):
		return fmt.Errorf("position metadata: epoch %d, step %d: past the run's %d epochs", p.Epoch, p.Step, cfg.Epochs)
	case p.Sums != (EpochSums{}) && (p.Step == 0 || !(p.Sums.Loss >= 0) || !(p.Sums.Correct >= 0) || p.Sums.Correct > p.Sums.Seen ||
		!isCount(p.Sums.Seen) || p.Sums.Seen > float32(p.Step*max(cfg.BatchSize, 1)) || !(p.Sums.Seconds >= 0) || math.IsInf(p.Sums.Seconds, 0)):
		return fmt.Errorf("position metadata: the epoch's running sums (loss %v, right %v, seen %v, %v s at step %d) are no run's", p.Sums.Loss, p.Sums.Correct, p.Sums.Seen, p.Sums.Seconds, p.Step)
	case !(o.LR > 0) || math.IsInf(float64(o.LR), 0):
		return fmt.Errorf("optimizer metadata: learning rate %v: expected a positive finite number", o.LR)
	case !inUnit(o.Beta1) || !inUnit(o.Beta2) || !inUnit(o.Momentum) || !(o.Eps >= 0) || math.IsInf(float64(o.Eps), 0):
		return fmt.Errorf("optimizer metadata: beta1 %v, beta2 %v, momentum %v, eps %v: expected the betas and momentum in [0, 1), eps finite and not negative",
			o.Beta1, o.Beta2, o.Momentum, o.Eps)
	}
	// A cosine schedule is NewSchedule's for the run's steps: an
	// epochs' whole number of them, its warm-up the planned share, to 0.
	if sc := o.Sched; sc.Kind == CosineLR && (cfg.Epochs < 1 || sc.Total%cfg.Epochs != 0 || sc != NewSchedule(CosineLR, sc.Total)) {
		return fmt.Errorf("optimizer metadata: cosine schedule of warm-up %d, total %d, final %v, in a run of %d epochs: no run plans one (its total a whole number of epochs' steps, its warm-up %g of that, rounded up, its end 0): the file was edited or damaged",
			sc.Warmup, sc.Total, sc.Final, cfg.Epochs, WarmupFraction)
	}
	if err := checkHistory(c.History); err != nil {
		return err
	}
	// A record is written for each finished epoch: none past the
	// position (a run resumed from such a file appended after it, and
	// wrote a checkpoint that no cnngpu would load).
	if n := len(c.History); n > 0 && c.History[n-1].Epoch > p.Epoch {
		return fmt.Errorf("history metadata: a record of epoch %d, but the position is epoch %d step %d (%d finished): records are kept of finished epochs only; the file was edited or damaged",
			c.History[n-1].Epoch, p.Epoch, p.Step, p.Epoch)
	}
	return nil
}

// prevEpoch is the epoch of h's record before i (0 for the first).
func prevEpoch(h []EpochMetrics, i int) int {
	if i == 0 {
		return 0
	}
	return h[i-1].Epoch
}

// decodeHistory reads a checkpoint's history, a JSON list of at most most
// epoch records, one at a time.
func decodeHistory(h string, most int) ([]EpochMetrics, error) {
	dec := json.NewDecoder(strings.NewReader(h))
	bad := func(err error) error { return fmt.Errorf("bad history metadata: %v", err) }
	if t, err := dec.Token(); err != nil {
		return nil, bad(err)
	} else if t != json.Delim('[') {
		return nil, bad(fmt.Errorf("%v where a list of epoch records was expected", t))
	}
	var out []EpochMetrics
	for dec.More() {
		if len(out) == most {
			return nil, fmt.Errorf("history metadata: more than %d epoch records, where its position has trained %d epochs: the file was edited or damaged", most, most-1)
		}
		var m EpochMetrics
		if err := dec.Decode(&m); err != nil {
			return nil, bad(err)
		}
		out = append(out, m)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, bad(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad(fmt.Errorf("something after the list of epoch records"))
	}
	return out, nil
}

// checkHistory refuses a checkpoint's epoch records that no run writes:
// epochs not numbered upwards from 1, an accuracy outside 0 to 1, a
// negative or infinite loss, a negative time or count (a value left out,
// NaN, is one the run did not measure).
func checkHistory(h []EpochMetrics) error {
	acc := func(v float64) bool { return math.IsNaN(v) || v >= 0 && v <= 1 }
	loss := func(v float64) bool { return math.IsNaN(v) || v >= 0 && !math.IsInf(v, 0) }
	for i, m := range h {
		if m.Epoch <= prevEpoch(h, i) || !acc(m.TrainAcc) || !acc(m.ValAcc) || !loss(m.TrainLoss) || !loss(m.ValLoss) ||
			!(m.Seconds >= 0) || math.IsInf(m.Seconds, 0) || !(m.ImagesPerSec >= 0) || math.IsInf(m.ImagesPerSec, 0) || m.Images < 0 ||
			!(m.ValSeconds >= 0) || math.IsInf(m.ValSeconds, 0) {
			return fmt.Errorf("history metadata: epoch record %d holds values cnngpu never writes (epoch %d after %d; loss %v, accuracy %v, validation loss %v and accuracy %v, %v s, %v images/s, %d images, %v s validating: epochs count up from 1, accuracies lie in 0 to 1, losses, times and counts are not negative): the file was edited or damaged",
				i+1, m.Epoch, prevEpoch(h, i), m.TrainLoss, m.TrainAcc, m.ValLoss, m.ValAcc, m.Seconds, m.ImagesPerSec, m.Images, m.ValSeconds)
		}
	}
	return nil
}

// NewModelFrom builds a model on e from a checkpoint, with its optimizer
// state when the checkpoint has it.
func NewModelFrom(e Engine, c *Checkpoint) (*Model, error) {
	m, err := NewModel(e, c.Arch, c.Opt, c.Params)
	if err != nil {
		return nil, err
	}
	if c.S1 != nil {
		if err := m.SetOptState(c.S1, c.S2, c.Step); err != nil {
			m.Release()
			return nil, err
		}
	}
	return m, nil
}
