// trace.go: CNNGPU_TRACE=1 and the global --trace flag turn on the phase
// timing of package internal/trace; run prints its table to stderr when
// the command ends (docs/performance.md).

package main

import (
	"strconv"
	"strings"

	"github.com/cnngpu/cnngpu/internal/envflag"
	"github.com/cnngpu/cnngpu/internal/trace"
	"github.com/urfave/cli/v2"
)

// traceEnv is the environment variable that turns the trace on.
const traceEnv = "CNNGPU_TRACE"

var traceFlag = &cli.BoolFlag{Name: "trace", Usage: "at the end of the command, print to stderr where the wall time went, phase by phase (as CNNGPU_TRACE=1 does); it may also follow the command"}

// traceArgs reads CNNGPU_TRACE and takes --trace out of args wherever it
// stands before "--" (urfave/cli reads a global flag only before the
// command), turning the trace on for either.
func traceArgs(args []string) ([]string, error) {
	if err := traceFromEnv(); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...), nil
		}
		// As the global flag takes it: --trace=false after the command
		// too.
		if name, v, valued := strings.Cut(a, "="); i > 0 && (name == "--trace" || name == "-trace") {
			on := true
			if valued {
				var err error
				if on, err = strconv.ParseBool(v); err != nil {
					return nil, usageErrorf("%s: expected --trace, --trace=true or --trace=false", a)
				}
			}
			if on {
				trace.Enable()
			}
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// traceFromEnv turns the trace on for CNNGPU_TRACE=1 (or true, yes, on);
// 0 or unset leave it off, anything else is refused.
func traceFromEnv() error {
	on, err := envflag.Bool(traceEnv, false, "print the phase timing at the end", "no timing")
	if err != nil {
		return withCode(2, err)
	}
	if on {
		trace.Enable()
	}
	return nil
}

// traceBefore turns the trace on for --trace.
func traceBefore(c *cli.Context) error {
	if c.Bool("trace") {
		trace.Enable()
	}
	return nil
}
