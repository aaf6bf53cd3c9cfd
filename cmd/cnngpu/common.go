// common.go: what several subcommands share: locating and loading MNIST,
// choosing the engine, terminal detection.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gpucuda "github.com/cnngpu/cnngpu/cuda"
	"github.com/cnngpu/cnngpu/engine"
	"github.com/cnngpu/cnngpu/engine/cpu"
	enginecuda "github.com/cnngpu/cnngpu/engine/cuda"
	"github.com/cnngpu/cnngpu/internal/cachedir"
	"github.com/cnngpu/cnngpu/internal/fileutil"
	"github.com/cnngpu/cnngpu/internal/shell"
	"github.com/cnngpu/cnngpu/internal/shown"
	"github.com/cnngpu/cnngpu/internal/trace"
	"github.com/cnngpu/cnngpu/loader"
	"github.com/urfave/cli/v2"
)

var dataFlag = &cli.StringFlag{
	Name:  "data",
	Usage: "read the four MNIST IDX files (raw or .gz) from folder `DIR`, as they are; default: the cache, fetched and checksummed on first use",
}

var cpuFlag = &cli.BoolFlag{Name: "cpu", Usage: "run on the CPU engine; without --cpu or --device: GPU 0 when one works, else the CPU"}

var deviceFlag = &cli.IntFlag{Name: "device", Usage: "run on GPU `N` (see 'cnngpu devices')", DefaultText: "GPU 0 when one works, else the CPU"}

var precisionFlag = &cli.StringFlag{Name: "precision", Value: "fp32", Usage: "GPU arithmetic: fp32 (strict, no tensor cores) or tf32 (tensor cores)"}

var threadsFlag = &cli.IntFlag{Name: "threads", Usage: "CPU engine worker threads: `N` up to 1024 (0 = all cores)", Value: 0}

// loadMNIST reads --data DIR as it is, or the cache's checksummed files
// (fetching them when missing).
func loadMNIST(ctx context.Context, c *cli.Context, log io.Writer) (*loader.MNIST, error) {
	return loadFrom(ctx, c, log, loader.LoadDir, (*loader.Fetcher).LoadMNIST)
}

// loadTestSet is loadMNIST's test set alone (the training files in --data
// are neither needed nor read).
func loadTestSet(ctx context.Context, c *cli.Context, log io.Writer) (*loader.Set, error) {
	return loadFrom(ctx, c, log, loader.LoadTestDir, (*loader.Fetcher).LoadTest)
}

// emptyFlag refuses flag given empty (an empty variable expanded:
// "--data $DIR"), which would otherwise mean the flag left out: expected
// says what it takes, unset what leaving it out does.
func emptyFlag(c *cli.Context, flag, expected, unset string) error {
	if c.IsSet(flag) && c.String(flag) == "" {
		return usageErrorf("--%s '': expected %s; leave --%s out %s", flag, expected, flag, unset)
	}
	return nil
}

// closeEngine closes e as the command that made it ends, and where that
// fails after the command succeeded (a GPU fault seen only as its last
// work is waited for: every result was read back and written before)
// says so on w, as a note: the output is complete, the GPU may not be.
func closeEngine(e engine.Engine, w io.Writer, err *error) {
	if cerr := e.Close(); cerr != nil && *err == nil {
		fmt.Fprintf(w, "note: the command's work is done and its results are complete, but closing the engine failed: %v\n", cerr)
	}
}

// emptyArg refuses an argument given empty (a script's unset "$F"), which
// would be named as an empty file or folder: cmd is the command's name,
// expected what its arguments are.
func emptyArg(c *cli.Context, cmd, expected string) error {
	if i := slices.Index(c.Args().Slice(), ""); i >= 0 {
		return usageErrorf("%s: argument %d is empty: expected %s", cmd, i+1, expected)
	}
	return nil
}

// emptyData refuses a --data given empty, which would otherwise mean the
// cache.
func emptyData(c *cli.Context) error {
	return emptyFlag(c, "data", "the folder that holds the MNIST IDX files", "to use the cache")
}

// loadFrom reads with load from --data, or with cached from the cache
// (fetched and checked first when needed).
func loadFrom[T any](ctx context.Context, c *cli.Context, log io.Writer, load func(dir string) (T, error), cached func(*loader.Fetcher, context.Context) (T, error)) (T, error) {
	var none T
	if err := checkDataFlag(c); err != nil {
		return none, err
	}
	if dir := c.String("data"); dir != "" {
		// Read beside, so that Ctrl-C stops the command at once: a large
		// --data file (up to a GiB, decompressed) reads for many seconds,
		// and the reading is left to the process's end.
		type read struct {
			m   T
			err error
		}
		got := make(chan read, 1)
		aside := trace.IsAside() // the read's phase is the caller's, in the trace
		go func() {
			if aside {
				defer trace.Aside()()
			}
			m, err := load(dir)
			got <- read{m, err}
		}()
		var m T
		var err error
		select {
		case r := <-got:
			m, err = r.m, r.err
		case <-ctx.Done():
			return none, withCode(130, fmt.Errorf("interrupted while reading the data in %s: nothing was written", dir))
		}
		if err != nil {
			return none, dataError(dir, err)
		}
		if err := checkSets(dir, m); err != nil {
			return none, err
		}
		if ctx.Err() != nil {
			// Ctrl-C while it was read (a command whose interrupt
			// covers the data's reading alone would lose it).
			return none, withCode(130, fmt.Errorf("interrupted while reading the data in %s: nothing was written", dir))
		}
		return m, nil
	}
	dir, err := cacheDir(log)
	if err != nil {
		return none, err
	}
	f := loader.NewFetcher(dir)
	f.Log = log
	m, err := cached(f, ctx)
	if ctx.Err() != nil {
		// Ctrl-C during a first run's download, or while the cache was
		// read: nothing trained yet.
		return none, withCode(130, fmt.Errorf("interrupted while getting MNIST ready in %s: the files fetched and checked before are kept there, nothing half-written; run the same command again to go on", dir))
	}
	return m, err
}

// checkDataFlag refuses a --data that is empty, not a folder, missing or
// a link loop (exit 2: the flag's value), before anything is read.
func checkDataFlag(c *cli.Context) error {
	if err := emptyData(c); err != nil {
		return err
	}
	dir := c.String("data")
	if dir == "" {
		return nil
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return usageErrorf("--data %s: is %s, not a folder; give the folder that holds the MNIST IDX files", lineName(dir), fileutil.Kind(st.Mode()))
	} else if errors.Is(err, fs.ErrNotExist) {
		// A bad flag value, exit 2, as a file given for the folder.
		return usageErrorf("--data: data folder %s does not exist: give the folder that holds the four MNIST IDX files, or leave --data out to use the cache (fetched and checksummed on first use)", lineName(dir))
	} else if errors.Is(err, syscall.ELOOP) {
		return usageErrorf("--data %s: a symbolic link that leads back to itself (too many levels of symbolic links): give the folder that holds the MNIST IDX files", lineName(dir))
	}
	return nil
}

// cacheDir is the MNIST cache folder, saying on note where
// $XDG_CACHE_HOME is ignored (a relative path): the shell's
// ${XDG_CACHE_HOME:-$HOME/.cache}, as in the README, takes it.
func cacheDir(note io.Writer) (string, error) {
	dir, err := loader.CacheDir()
	if x := cachedir.IgnoredXDG(); err == nil && x != "" && note != nil { // (nil: --quiet)
		fmt.Fprintf(note, "note: XDG_CACHE_HOME=%s is not an absolute path, so it is ignored (as the XDG rules say): the cache is %s\n", x, dir)
	}
	return dir, err
}

// dataError is err, from reading --data dir, as the commands say it: for
// files that are not MNIST's IDX files, with how to fetch MNIST there.
func dataError(dir string, err error) error {
	var pe *loader.ParseError
	if errors.As(err, &pe) {
		// data fetch replaces no well-formed IDX file (another
		// dataset's): those are to be moved away first.
		var keeps []string
		for _, p := range loader.InTheWay(dir) {
			keeps = append(keeps, filepath.Base(p))
		}
		first := ""
		if len(keeps) > 0 {
			first = "move " + joinList(keeps, "and") + " out of it (fetching replaces no IDX file that is not MNIST's), then "
		}
		return fmt.Errorf("--data: %w; if the folder is meant to hold MNIST, %sfetch checked copies with %s, or leave --data out to use the cache", err, first, shell.Command("data fetch --dir "+shell.Path(dir)))
	}
	return fmt.Errorf("--data: %w", err)
}

// checkSets refuses sets read from --data dir that hold no images (a
// well-formed IDX file may count none): a command would train or test on
// nothing, and find out only at the end; and a training set without an
// image of each digit, which cannot train a 10-class model (a test set
// may lack one: eval says so).
func checkSets(dir string, sets any) error {
	var train, test *loader.Set
	switch s := sets.(type) {
	case *loader.MNIST:
		train, test = s.Train, s.Test
	case *loader.Set:
		test = s
	}
	for _, c := range []struct {
		s    *loader.Set
		file string
		what string
	}{{train, loader.Files[0].RawName(), "training"}, {test, loader.Files[2].RawName(), "test"}} {
		if c.s != nil && c.s.N() == 0 {
			return fmt.Errorf("--data %s: its %s set (%s) holds no images; give a folder whose %s files hold some", dir, c.what, c.file, c.what)
		}
	}
	if train == nil {
		return nil
	}
	var missing, there []string
	for d, n := range digitCounts(train.Labels, engine.AllIndices(train.N())) {
		if n == 0 {
			missing = append(missing, strconv.Itoa(d))
		} else {
			there = append(there, strconv.Itoa(d))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("--data %s: its training set (%s, %s) has no image of the %s %s, only of %s: a 10-class model is trained on every digit; give a folder whose training set holds all ten",
			dir, loader.Files[1].RawName(), shown.Count(train.N(), "image"), map[bool]string{true: "digit", false: "digits"}[len(missing) == 1], joinList(missing, "or"), joinList(there, "and"))
	}
	return nil
}

// joinList joins words as "a", "a or b", "a, b or c" (with and, "and").
func joinList(words []string, and string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + and + " " + words[len(words)-1]
}

// loading is MNIST being read on another goroutine (loadAside).
type loading struct {
	done   chan struct{}
	m      *loader.MNIST
	fp     string // the training set's Fingerprint
	err    error
	cancel context.CancelFunc
}

// loadAside starts loadMNIST on another goroutine, so that reading and
// decompressing the data, and the training set's fingerprint (a CRC-32C
// of 47 MB), overlap what does not need them: loading the NVIDIA
// libraries, cuInit and the context take most of a GPU command's
// start-up and wait on the driver. wait returns the data.
func loadAside(ctx context.Context, c *cli.Context, log io.Writer) *loading {
	ctx, cancel := context.WithCancel(ctx)
	l := &loading{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(l.done)
		defer trace.Aside()()
		if l.m, l.err = loadMNIST(ctx, c, log); l.err == nil {
			sp := trace.Begin(trace.Fingerprint)
			l.fp = l.m.Train.Fingerprint()
			sp.End()
		}
	}()
	return l
}

// wait returns the data and its training set's fingerprint, once read;
// the time it waits is the DataWait phase of the trace.
func (l *loading) wait() (*loader.MNIST, string, error) {
	defer trace.Begin(trace.DataWait).End()
	<-l.done
	l.cancel()
	return l.m, l.fp, l.err
}

// maxThreads is the most CPU engine threads --threads accepts.
const maxThreads = 1024

// checkEngineFlags checks the values and combinations of the engine flags
// a command has (--threads, --cpu, --device, --precision, --devices), so
// that a command, a dry run too, refuses them before any work.
func checkEngineFlags(c *cli.Context) error {
	if n := c.Int("threads"); n < 0 || n > maxThreads {
		return usageErrorf("--threads %d: expected 0 (all cores) or a number of threads up to %d", n, maxThreads)
	}
	if c.Bool("cpu") && c.IsSet("device") {
		return usageErrorf("--cpu and --device exclude each other")
	}
	if err := emptyFlag(c, "precision", "fp32 or tf32", "for fp32"); err != nil {
		return err
	}
	switch p := c.String("precision"); p {
	case "", "fp32":
	case "tf32":
		if c.Bool("cpu") {
			// The CPU engine has no tensor cores: the run would be
			// fp32 while the flags say otherwise.
			return usageErrorf("--precision tf32 is the GPU's tensor-core arithmetic; the CPU engine (--cpu) computes in fp32: drop one of the two")
		}
	default:
		return usageErrorf("--precision %q: expected fp32 or tf32", p)
	}
	if d := c.String("devices"); d != "" {
		if c.Bool("cpu") || c.IsSet("device") {
			return usageErrorf("--devices excludes --cpu and --device")
		}
		if _, err := parseList("devices", d, strconv.Atoi); err != nil {
			return err
		}
	}
	return nil
}

// newEngine returns the engine the flags ask for: --cpu, --device N, or
// with neither GPU 0 when it works and the CPU otherwise, saying which and
// why on note. With quiet, only a fall-back to the CPU is said (it makes
// the run many times slower: a --quiet run is not to hide that).
func newEngine(c *cli.Context, note io.Writer, quiet bool) (engine.Engine, error) {
	return engineFor(c, note, quiet, "")
}

// nvidiaDriverPresent reports whether the NVIDIA kernel driver is loaded
// (its /proc/driver/nvidia, seen from containers too; a stat, where
// looking for a GPU takes a tenth of a second or more): without it no GPU
// can work, and a hint to use one would only send the user to an error.
// (A /dev/nvidiactl node can be there without the driver.)
func nvidiaDriverPresent() bool {
	_, err := os.Stat("/proc/driver/nvidia")
	return err == nil
}

// checkEngineEnv refuses (exit 2) a bad value of the engines' environment
// variables. The GPU engine's are checked under --cpu too: a value that
// would be refused with a GPU is a mistake there as well, and the same
// command line with the same environment should not work on one machine
// and fail on the next.
func checkEngineEnv() error {
	if err := cpu.CheckEnv(); err != nil {
		return withCode(2, err)
	}
	if err := enginecuda.CheckEnv(); err != nil {
		return withCode(2, err)
	}
	return nil
}

// engineFor is newEngine, except that where cpuFirst is not "" and no
// engine is asked for (neither --cpu, --device nor --precision tf32), it
// is the CPU engine without looking for a GPU, noted with cpuFirst as the
// reason (work smaller than a GPU's start) where an NVIDIA driver is.
func engineFor(c *cli.Context, note io.Writer, quiet bool, cpuFirst string) (engine.Engine, error) {
	if err := checkEngineFlags(c); err != nil {
		return nil, err
	}
	if err := checkEngineEnv(); err != nil {
		return nil, err
	}
	tf32 := c.String("precision") == "tf32"
	if c.Bool("cpu") {
		return cpu.New(c.Int("threads")), nil
	}
	if c.IsSet("device") {
		if d := c.Int("device"); d < 0 {
			return nil, usageErrorf("--device %d: expected a GPU index (0, 1, ...)", d)
		}
		return openGPU(note, c.Int("device"), tf32)
	}
	if cpuFirst != "" && !tf32 {
		// Said only where there was a GPU to choose: with no GPU engine
		// or no NVIDIA driver, the CPU engine is no choice, and a note
		// on a GPU's start would only puzzle.
		if gpucuda.BindingsCompiled && nvidiaDriverPresent() {
			fmt.Fprintf(note, "note: using the CPU engine: %s (--device 0 for the GPU)\n", cpuFirst)
		}
		return cpu.New(c.Int("threads")), nil
	}
	// A fall-back to the CPU leaves --precision tf32 (the GPU's) out:
	// said, since the flag was given for it.
	noTF32 := ""
	if tf32 {
		noTF32 = "\nnote: --precision tf32 is the GPU's; the CPU engine computes in strict FP32"
	}
	done := watchDriver(note, "starting the NVIDIA driver")
	err := gpucuda.Load()
	done()
	if err != nil {
		// The driver's hint is to use --cpu, which this fall-back has
		// taken already.
		fmt.Fprintf(note, "note: using the CPU engine: %v (--cpu skips looking for a GPU)%s\n", withoutHint(err), noTF32)
		return cpu.New(c.Int("threads")), nil
	}
	e, err := openGPU(note, 0, tf32)
	if nd := (*gpucuda.NoSuchDeviceError)(nil); errors.As(err, &nd) {
		// Not "--device 0: no such GPU": no --device was given.
		fmt.Fprintf(note, "note: using the CPU engine: the NVIDIA driver sees no GPU%s\n", noTF32)
		return cpu.New(c.Int("threads")), nil
	}
	if err != nil {
		fmt.Fprintf(note, "note: using the CPU engine: GPU 0 does not work: %v%s\n", withoutHint(err), noTF32)
		return cpu.New(c.Int("threads")), nil
	}
	if !quiet {
		fmt.Fprintf(note, "note: using GPU 0 (--cpu for the CPU engine)\n")
	}
	return e, nil
}

// withoutHint is err without a setup error's hint (to use --cpu): for a
// fall-back to the CPU, which has taken it, and a list that says it once.
func withoutHint(err error) error {
	if se := (*gpucuda.SetupError)(nil); errors.As(err, &se) {
		return se.Err
	}
	return err
}

// openGPU opens the GPU engine on device d, saying on note if the driver
// keeps it waiting (watchDriver).
func openGPU(note io.Writer, d int, tf32 bool) (engine.Engine, error) {
	done := watchDriver(note, fmt.Sprintf("starting GPU %d", d))
	e, err := enginecuda.New(d, tf32)
	done()
	var nd *gpucuda.NoSuchDeviceError
	if errors.As(err, &nd) {
		return nil, withCode(2, err) // the flag's value, as --device -1
	}
	if err != nil {
		return nil, err
	}
	gpuOpened.Store(true)
	return e, nil
}

// isTerminal reports whether f is a terminal that redraws (progress bars)
// rather than a pipe or file (plain lines); TERM=dumb, a terminal that
// cannot move its cursor or clear a line (an editor's shell buffer),
// counts as a file.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb" && terminalReady(f)
}

func percent(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

// self is this program as a shell word, for the commands in hints (see
// shell.Program).
func self() string { return shell.Quote(shell.Program()) }

// gpuNaNHint is added to a non-finite result on a GPU engine (the empty
// string on the CPU): there it can also be the engine's fault, not the
// model's, and the CPU engine tells the two apart.
func gpuNaNHint(e engine.Engine) string {
	if !isGPU(e) {
		return ""
	}
	return "\nhint: on a GPU this can also be a fault of the GPU engine: if the same command with --cpu gives finite numbers, run it again with CNNGPU_DEBUG=1 and report what it prints"
}

// isGPU tells whether e is the GPU engine.
func isGPU(e engine.Engine) bool { return strings.HasPrefix(e.Name(), "cuda") }

// stallPatience is how long a training on a GPU may finish nothing (no
// step, validation or epoch's end) before it is said (stallNote): a GPU's
// step takes under a millisecond, its validation and test well under a
// second. The CPU engine's trainings are
// not watched: a slow machine's step or validation can take that long.
// A variable for the tests.
var stallPatience = 30 * time.Second

// stallNote is the note that a training (what: "" for the command's one,
// else e.g. "seed 3: ") on engine e has finished nothing for since
// (engine.Trainer.OnStall): a step waits without an error where the GPU
// or its driver no longer answers, and the command showed nothing.
func stallNote(what string, e engine.Engine, since time.Duration) string {
	stop := "Ctrl-C stops, keeping the epochs that finished"
	if stopAskedClosed() {
		stop = "Ctrl-C again stops at once, keeping the epochs that finished"
	}
	return fmt.Sprintf("note: %sthe training has finished nothing (no step, validation or epoch's end) for %.0f s on %s: the GPU or its driver may no longer answer (nvidia-smi says whether the driver does), or other work holds the GPU; %s",
		what, since.Seconds(), e.Name(), stop)
}

// probeOutputs checks that model m's outputs are finite for four inputs
// (blank, mid-grey throughout, white throughout, and a ring of ink as a
// drawn 0 is): weights finite but so large that the outputs overflow are
// refused where a model is served or exported, as eval and predict refuse
// them on their images.
func probeOutputs(m *engine.Model) error {
	names := []string{"a blank image", "a mid-grey one", "a white one", "a drawn 0"}
	probe := make([]float32, len(names)*engine.ImagePixels)
	grey, white, ring := probe[engine.ImagePixels:], probe[2*engine.ImagePixels:], probe[3*engine.ImagePixels:]
	for i := range engine.ImagePixels {
		grey[i], white[i] = 0.5, 1
		// An ellipse 2 to 3 pixels wide, 20 high and 14 across: as
		// MNIST's digits are, within 20 pixels.
		y, x := float64(i/28)-13.5, float64(i%28)-13.5
		if r := math.Hypot(x/7, y/10); r > 0.8 && r < 1 {
			ring[i] = 1
		}
	}
	probs, err := m.Predict(probe)
	if err != nil {
		return err
	}
	if i := engine.FirstNonFinite(probs); i >= 0 {
		return fmt.Errorf("%w: the model's output for %s is %v, not a probability (its weights overflow; retrain it with a smaller --lr)",
			engine.ErrNonFinite, names[i/engine.Classes], probs[i])
	}
	return nil
}

// interruptContext is the context of a command that stops cleanly on
// Ctrl-C, SIGTERM or SIGHUP (stopSignals; finishing its step, saving what it finished),
// or once its standard output's reader has gone (stdoutGone). Once
// one has come, the signals are the system's again: a second Ctrl-C ends
// the process at once, should the clean stop hang (a GPU that no longer
// answers). A repeat within repeatWindow of the first is the same
// request, not a second one: `timeout -s INT` and supervisors signal the
// process and then its group, so it arrives twice at once. A stop that
// has not ended after stopPatience is said on note (nil: the command
// says its own), so that it is not a silent hang.
func interruptContext(parent context.Context, note io.Writer) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, stopSignals()...)
	var once, endOnce sync.Once
	release := func() { once.Do(func() { signal.Stop(ch) }) }
	ended := make(chan struct{}) // the command has returned
	done := make(chan struct{})  // the goroutine below has
	go func() {
		defer close(done)
		select {
		case <-ch:
			stopAskedOnce.Do(func() { close(stopAsked) })
		case <-stdoutGone:
			// Nothing more can be shown: stop as on Ctrl-C.
			cancel()
			release()
			return
		case <-ctx.Done():
			release()
			return
		}
		cancel()
		asked := time.Now()
		window := time.After(repeatWindow)
	repeats:
		for {
			select {
			case <-ch: // the same request, sent twice
			case <-ended:
				release()
				return
			case <-window:
				stopOnNextSignal()
				release()
				break repeats
			}
		}
		if note == nil {
			return
		}
		wait := stopPatience - time.Since(asked)
		for {
			select {
			case <-ended:
				return
			case <-time.After(wait):
			}
			if driverWatches.Load() > 0 {
				// A wait for the driver says what the stop waits for
				// while it lasts; once it ends, this watch goes on.
				wait = stopPatience
				continue
			}
			waits := "finishing what is in progress"
			if gpuOpened.Load() {
				waits = "waiting for the GPU to finish what it was given (a step, a copy, the test; if the NVIDIA driver no longer answers, nvidia-smi says so)"
			}
			fmt.Fprintf(note, "note: still stopping after %.0f s, %s; Ctrl-C again stops at once, keeping what was saved before\n",
				time.Since(asked).Seconds(), waits)
			return
		}
	}()
	return ctx, func() {
		cancel()
		release()
		endOnce.Do(func() { close(ended) })
		<-done // no note after the command's next line
	}
}

// watchGPU is watchDriver for work on engine e where it is a GPU (a
// test of 10,000 images takes it well under a second), which says when
// the GPU has not answered for driverPatience; on the CPU engine it
// watches nothing (a slow machine's test can take that long).
func watchGPU(w io.Writer, e engine.Engine, doing string) (done func()) {
	if !isGPU(e) {
		return func() {}
	}
	return watchDriver(w, doing+" on "+e.Name())
}

// stopPatience is how long a clean stop may take before interruptContext
// says it is still stopping (a step and a checkpoint's save take well
// under a second; a CPU's step at a batch of thousands, seconds, which
// would otherwise pass with the Ctrl-C unanswered); a variable for the
// tests.
var stopPatience = 3 * time.Second

// gpuOpened is set once a GPU engine has started (openGPU): a stop that
// hangs then is most likely the GPU's.
var gpuOpened atomic.Bool

// driverWatches counts the waits for the NVIDIA driver under way
// (watchDriver), which say what a stop during them waits for.
var driverWatches atomic.Int32

// stopAsked is closed when interruptContext has had its first stop
// signal: what waits for the NVIDIA driver says that the stop waits too
// (watchDriver).
var (
	stopAsked     = make(chan struct{})
	stopAskedOnce sync.Once
)

// stopAskedClosed tells whether a stop has been asked for (stopAsked).
func stopAskedClosed() bool {
	select {
	case <-stopAsked:
		return true
	default:
		return false
	}
}

// driverPatience is how long a GPU's start may take before watchDriver
// says it is still waiting (a first start takes up to 2 s).
var driverPatience = 10 * time.Second // a variable for the tests

// watchDriver says on w that the NVIDIA driver or its libraries have not
// answered yet, while doing (e.g. "starting GPU 0"): once driverPatience
// has passed, and when a stop is asked for (which waits for them: a call
// into the driver cannot be cut short), so that a driver that no longer
// answers is not a silent hang. done ends the watch.
func watchDriver(w io.Writer, doing string) (done func()) {
	end, ended := make(chan struct{}), make(chan struct{})
	start := time.Now()
	driverWatches.Add(1)
	stop := stopAsked
	if stopAskedClosed() {
		stop = nil // asked before this wait began: said once it is long
	}
	go func() {
		defer close(ended)
		timer := time.NewTimer(driverPatience)
		defer timer.Stop()
		said := false // that the stop waits for the driver
		sayStop := func() {
			said = true
			fmt.Fprintf(w, "note: stopping once the NVIDIA driver answers (%s, for %.0f s now); Ctrl-C again stops at once\n", doing, time.Since(start).Seconds())
		}
		for {
			select {
			case <-end:
				return
			case <-timer.C:
				if stopAskedClosed() {
					// A stop asked before this wait began waits for it
					// too (interruptContext leaves this note to us).
					if !said {
						sayStop()
					}
					continue
				}
				fmt.Fprintf(w, "note: still %s after %.0f s: the NVIDIA driver or its libraries do not answer (nvidia-smi checks the driver; a GPU in a bad state may need a reset or a reboot); Ctrl-C stops, and --cpu runs without the GPU\n",
					doing, time.Since(start).Seconds())
			case <-stop:
				stop = nil
				sayStop()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(end); driverWatches.Add(-1) })
		<-ended // no note after the command's next line
	}
}

// stopSignals are the signals interruptContext turns into a clean stop:
// Ctrl-C, SIGTERM, and SIGHUP (the terminal closed: what the run finished
// is kept) unless this process was started with SIGHUP ignored (nohup),
// which asking for it would undo.
func stopSignals() []os.Signal {
	if hupIgnoredAtStart {
		return []os.Signal{os.Interrupt, syscall.SIGTERM}
	}
	return []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}
}

// hupIgnoredAtStart: this process was started with SIGHUP ignored (nohup);
// read before anything asks for the signal, as intIgnoredAtStart.
var hupIgnoredAtStart = signal.Ignored(syscall.SIGHUP)

// intIgnoredAtStart: this process was started with SIGINT ignored (a
// background job of a non-interactive shell, `cnngpu serve &` in a
// script). Read before anything asks for the signal: after signal.Notify,
// signal.Ignored says false. (Go keeps an inherited "ignored" for SIGHUP
// and SIGINT alone; SIGTERM always has its default action.)
var intIgnoredAtStart = signal.Ignored(os.Interrupt)

// stopOnNextSignal makes the next Ctrl-C end the process at once; called
// when a first signal has begun a clean stop, just before the signals are
// let go (signal.Stop). With SIGINT's default action that is so already;
// for a process started with it ignored, which letting go would restore,
// it is taken here instead and ends the process with the shell's code for
// it, 130.
func stopOnNextSignal() {
	if !intIgnoredAtStart {
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt)
	go func() {
		<-ch
		os.Exit(130)
	}()
}

// repeatWindow is how long after an interrupt a repeat is taken for the
// same one (see interruptContext): far longer than a signal sent twice
// takes to arrive, shorter than a person's second Ctrl-C.
const repeatWindow = 500 * time.Millisecond
