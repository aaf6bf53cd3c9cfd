// Command cnngpu trains and uses the reference MNIST CNN on the CPU engine
// (and, where built, the GPU engine). main.go wires the subcommands and
// turns errors into a message and an exit code.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"os/user"
	"slices"
	"strings"
	"sync"
	"syscall"

	_ "github.com/cnngpu/cnngpu/internal/carena" // one C heap arena under ulimit -v
	"github.com/cnngpu/cnngpu/internal/shell"
	"github.com/cnngpu/cnngpu/internal/trace"
	"github.com/urfave/cli/v2"
)

// exitError carries an exit code with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// usageErrorf reports a bad flag value: exit code 2.
func usageErrorf(format string, args ...any) error {
	return withCode(2, fmt.Errorf(format, args...))
}

func newApp() *cli.App {
	app := &cli.App{
		Name:  "cnngpu",
		Usage: "train and use a convolutional network on MNIST, on the CPU or an NVIDIA GPU",
		Description: "Trains the reference CNN (conv 3x3x32 → pool → conv 3x3x64 → pool → dense 1000 → dense 10) " +
			"on MNIST and reports test accuracy. The reference is a Keras study of MNIST that cnngpu reproduces and extends: " +
			"its network, and its grid of learning rates, batch sizes and activations ('cnngpu tune'). " +
			"Data is fetched into a cache on first use.\n\n" +
			"Environment:\n" +
			"   XDG_CACHE_HOME       the data cache is $XDG_CACHE_HOME/cnngpu/mnist (else, or when it is relative, ~/.cache/cnngpu/mnist)\n" +
			"   CNNGPU_LIBRARY_PATH  folders (colon-separated) searched first for cuBLAS and cuDNN; 'cnngpu devices' shows what was loaded\n" +
			"   CNNGPU_TRACE=1       at the end of any command, print to stderr where the wall time went, phase by phase (as --trace does)\n" +
			"   CNNGPU_DEBUG=1       the GPU engine waits after every kernel and library call, so that an error names its cause\n" +
			"   CNNGPU_NO_CACHE=1    the GPU engine neither reads nor writes its remembered cuDNN choices (gpu-choices.json in the cache folder)\n" +
			"   For measuring the engines: CNNGPU_KERNELS, CNNGPU_CONV, CNNGPU_DENSE, CNNGPU_STREAMS, CNNGPU_HEAD, " +
			"CNNGPU_DENSE_UPDATE, CNNGPU_PRIORITY, CNNGPU_PRELOAD and CNNGPU_CUDNN_BESIDE (the GPU's: docs/gpu.md, " +
			"\"Environment variables\"), CNNGPU_NOASM=1 and CNNGPU_NOAVX512=1 (the CPU's: docs/usage.md, \"Environment variables\").\n" +
			"   Switches shown as =1 also take true, yes or on, and 0, false, no or off; the switches' and the GPU engine's " +
			"values are read in any case, spaces around them ignored (not the paths). A value that is not understood is refused " +
			"(exit 2) by every command that makes an engine, --cpu included (the GPU engine's, in a build that has it).",
		Commands: []*cli.Command{
			trainCommand(),
			evalCommand(),
			dataCommand(),
			benchCommand(),
			devicesCommand(),
			predictCommand(),
			exportCommand(),
			serveCommand(),
			tuneCommand(),
			plotCommand(),
		},
		HideVersion: true, // our own --version (version.go)
		Flags:       []cli.Flag{versionFlag(), traceFlag},
		Before:      rootBefore,
		Action:      rootAction,
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return withCode(2, fmt.Errorf("%s (see %s)", rootFlagError(c.App.Commands, err), shell.Command("--help")))
		},
		ExitErrHandler: func(*cli.Context, error) {},
	}
	refuseArgsIn(app.Commands)
	cli.HelpPrinter = printWrappedHelp
	return app
}

func main() {
	trace.Main()
	catchSIGPIPE()
	os.Exit(run(os.Args))
}

// catchSIGPIPE takes SIGPIPE, so that a write to a standard output whose
// reader has gone (head, a pager that quits) fails with EPIPE instead of
// ending the process at once (Go's default there): checkedWriter sees it,
// and a training stops as if interrupted, keeping what it finished. A
// handled signal, unlike an ignored one, is not passed on to the
// processes cnngpu starts.
func catchSIGPIPE() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGPIPE)
	go func() {
		for range ch {
		}
	}()
}

// stdoutGone is closed when a write to standard output finds its reader
// gone (EPIPE): interruptContext stops its command then, as on Ctrl-C.
var (
	stdoutGone     = make(chan struct{})
	stdoutGoneOnce sync.Once
)

// run executes the CLI and returns the exit code: 0 on success, 2 for bad
// flags or arguments, 130 when interrupted, 141 when standard output's
// reader went away (its writes failing with EPIPE), 1 for every other
// failure.
func run(args []string) int {
	app := newApp()
	stdout := &checkedWriter{w: os.Stdout}
	app.Writer = stdout
	args, err := traceArgs(args)
	if err == nil {
		args, err = prepareArgs(app, args)
	}
	if err == nil {
		err = app.Run(args)
	}
	trace.Report(os.Stderr)
	if pipeGone(stdout.err) {
		// The reader of standard output has gone (head, a pager that
		// quits): nothing more can be shown there. A command that ended
		// for it alone (done, or failed on that write) ends as a process
		// killed by SIGPIPE would, silently; one that stopped for it says
		// so; another failure keeps its message and code.
		var ee *exitError
		switch {
		case err == nil || pipeGone(err):
			return 128 + 13
		case errors.As(err, &ee) && ee.code == 130:
			fmt.Fprintf(os.Stderr, "cnngpu: standard output was closed (the program reading it, such as head or a pager, ended): stopped as if interrupted\n")
		}
	}
	if err == nil && stdout.err != nil {
		// A full disk or a closed file behind standard output: what the
		// command printed is not all there.
		err = fmt.Errorf("writing standard output: %v: what was printed is incomplete", stdout.err)
	}
	if err == nil {
		return 0
	}
	fmt.Fprintf(os.Stderr, "cnngpu: %v\n", err)
	if h := permissionHint(err); h != "" {
		fmt.Fprintln(os.Stderr, h)
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// permissionHint is the hint for a failure that the system refused for
// lack of permission (a file the user running cnngpu may not read, a
// folder it may not search) and whose message has no hint of its own.
func permissionHint(err error) string {
	if !errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "hint:") {
		return ""
	}
	who := "this user"
	if u, uerr := user.Current(); uerr == nil {
		who = "user " + u.Username
	}
	return fmt.Sprintf("hint: cnngpu runs as %s, whom the system refused: check the permissions of the path named (%s, also of the folders above it), or choose a path this user may use", who, shell.ShowPermissions("PATH"))
}

// checkedWriter is standard output remembering its first write error,
// so that a command whose output could not be written does not exit 0.
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil && c.err == nil {
		c.err = err
		if pipeGone(err) {
			stdoutGoneOnce.Do(func() { close(stdoutGone) })
		}
	}
	return n, err
}

// rootFlagError words a flag error before the command: an unknown flag
// is named as the user wrote it, and one that is a command's flag (`cnngpu
// --cpu train`) is said to go after the command.
func rootFlagError(cmds []*cli.Command, err error) string {
	m := undefinedRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err.Error()
	}
	name := m[1]
	var of []string
	value := ""
	var walk func(cmds []*cli.Command, above string)
	walk = func(cmds []*cli.Command, above string) {
		for _, cmd := range cmds {
			for _, f := range cmd.Flags {
				if slices.Contains(f.Names(), name) {
					of = append(of, above+cmd.Name)
					if _, ok := f.(*cli.BoolFlag); !ok {
						value = " …"
					}
					break
				}
			}
			walk(cmd.Subcommands, above+cmd.Name+" ")
		}
	}
	walk(cmds, "")
	if len(of) == 0 {
		if len(name) == 1 {
			return fmt.Sprintf("unknown flag -%s", name)
		}
		return fmt.Sprintf("unknown flag --%s", name)
	}
	// The example is the command given after the flag, where it has it.
	example := of[0]
	for i, a := range os.Args[1:] {
		if i+2 < len(os.Args) && slices.Contains(of, a+" "+os.Args[i+2]) { // tune merge
			example = a + " " + os.Args[i+2]
			break
		}
		if slices.Contains(of, a) {
			example = a
			break
		}
	}
	return fmt.Sprintf("--%s before the command: it is a flag of %s; give it after the command, as in %s",
		name, strings.Join(of, ", "), shell.Command(example+" --"+name+value))
}

// onUsage turns urfave/cli's flag parse errors into exit code 2.
func onUsage(c *cli.Context, err error, _ bool) error {
	return withCode(2, fmt.Errorf("%s: %v (see %s)", cmdPath(c), flagError(c, err), shell.Command(cmdPath(c)+" --help")))
}
