// args.go: what urfave/cli does not do for us with the command line.
// Flags may follow positional arguments (`predict IMG --json`; urfave/cli
// stops reading flags at the first positional argument, and would take
// "--json" for a file name), so prepareArgs moves them before; "--" still
// ends the flags. An unknown command is refused with the list of commands
// and exit code 2, and a command that takes no arguments refuses extra
// ones instead of ignoring them. --help anywhere in a command's flags
// shows that command's help, and a flag given where a value is due is
// refused rather than taken for the value.

package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cnngpu/cnngpu/internal/shell"
	"github.com/urfave/cli/v2"
)

// prepareArgs returns args (os.Args form) with every subcommand's flags
// moved before its positional arguments, or a usage error for an unknown
// command.
func prepareArgs(app *cli.App, args []string) ([]string, error) {
	if len(args) >= 3 && isHelpFlag(args[1]) && !strings.HasPrefix(args[2], "-") {
		// `cnngpu --help COMMAND...` is `cnngpu help COMMAND...` (urfave/cli
		// would show a shortened help, or exit 1 for an unknown command).
		args = append([]string{args[0], "help"}, args[2:]...)
	}
	if len(args) >= 3 && (args[1] == "help" || args[1] == "h") && strings.HasPrefix(args[2], "-") && !isHelpFlag(args[2]) {
		return nil, usageErrorf("help: unknown flag %s; %s shows a command's help (see %s)", args[2], shell.Command("help COMMAND"), shell.Command("--help"))
	}
	if len(args) >= 3 && (args[1] == "help" || args[1] == "h") && !strings.HasPrefix(args[2], "-") {
		// `cnngpu help COMMAND [SUBCOMMAND]` is `cnngpu COMMAND
		// [SUBCOMMAND] --help` (urfave/cli would show the parent's help
		// for a subcommand, and exit 3 for an unknown command): an
		// unknown command, or a word past the last command, is a usage
		// error as for the command itself.
		cmds := app.Commands
		var cmd *cli.Command
		var path []string
		for _, a := range args[2:] {
			switch {
			case a == "help" || a == "h":
				return args, nil // the help command's own help
			case strings.HasPrefix(a, "-") || (cmd != nil && len(cmds) == 0):
				return nil, usageErrorf("help %s: %q is not a command of it (see %s)", strings.Join(path, " "), a, shell.Command(strings.Join(path, " ")+" --help"))
			}
			next := findCommand(cmds, a)
			if next == nil {
				return nil, unknownCommand(cmd, cmds, a)
			}
			cmd, cmds = next, next.Subcommands
			path = append(path, a)
		}
		return append(append([]string{args[0]}, path...), "--help"), nil
	}
	if len(args) < 2 || strings.HasPrefix(args[1], "-") || args[1] == "help" || args[1] == "h" {
		return args, nil
	}
	var cmd *cli.Command
	cmds := app.Commands
	i := 1
	for i < len(args) {
		next := findCommand(cmds, args[i])
		if next == nil {
			if cmd == nil || (cmd.Action == nil && !strings.HasPrefix(args[i], "-") && args[i] != "help" && args[i] != "h") {
				return nil, unknownCommand(cmd, cmds, args[i])
			}
			break
		}
		cmd, cmds = next, next.Subcommands
		i++
		if len(cmds) == 0 {
			break
		}
	}
	if pos, ok := helpAsked(cmd.Flags, args[i:]); ok {
		// `cnngpu COMMAND ARGS... --help` shows the command's help (urfave/cli
		// would take ARGS for help topics and exit 1); a word that is not
		// a subcommand of a command that has them is refused.
		path := args[:i:i]
		if len(pos) > 0 && len(cmd.Subcommands) > 0 {
			if findCommand(cmd.Subcommands, pos[0]) == nil {
				return nil, unknownCommand(cmd, cmd.Subcommands, pos[0])
			}
			path = append(path, pos[0])
		}
		return append(path, "--help"), nil
	}
	if len(cmd.Subcommands) > 0 && cmd.Action == nil {
		if i < len(args) {
			return args, nil // `cnngpu data --verify`: the flag is named as unknown
		}
		// `cnngpu data` alone: a script or Makefile that left out the
		// command must not pass for one that ran it.
		path := strings.Join(args[1:i], " ")
		return nil, usageErrorf("%s needs a command: %s (see %s)", path, strings.Join(visibleNames(cmd.Subcommands), " or "), shell.Command(path+" --help"))
	}
	rest, err := reorder(cmd.Flags, args[i:])
	if err != nil {
		path := strings.Join(args[1:i], " ")
		return nil, usageErrorf("%s: %v (see %s)", path, err, shell.Command(path+" --help"))
	}
	return append(append([]string(nil), args[:i]...), rest...), nil
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// visibleNames lists the names of the commands of cmds that help shows.
func visibleNames(cmds []*cli.Command) []string {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	return names
}

// unknownCommand names the command and lists those that exist.
func unknownCommand(parent *cli.Command, cmds []*cli.Command, name string) error {
	names := visibleNames(cmds)
	g := nearest(names, name)
	if parent == nil {
		// A subcommand given alone (`cnngpu fetch`): its command first.
		for _, c := range cmds {
			for _, sc := range c.Subcommands {
				if !sc.Hidden && strings.EqualFold(sc.Name, name) {
					g = c.Name + " " + sc.Name
				}
			}
		}
	}
	guess := ""
	if g != "" {
		guess = fmt.Sprintf(" (did you mean %s?)", g)
	}
	if parent == nil && name == "version" {
		guess = fmt.Sprintf(" (did you mean %s?)", shell.Command("--"+name))
	}
	if parent == nil {
		return usageErrorf("unknown command %q%s; the commands are %s (see %s)", name, guess, strings.Join(names, ", "), shell.Command("--help"))
	}
	return usageErrorf("unknown command %q%s; '%s' has the commands %s (see %s)",
		parent.Name+" "+name, guess, parent.Name, strings.Join(names, ", "), shell.Command(parent.Name+" --help"))
}

// nearest returns the one name of names that word is a slip of (the same
// but for case, one letter changed, added, removed or swapped where both
// are longer than two letters, or two where both are longer than four),
// "" where none or several are.
func nearest(names []string, word string) string {
	found := ""
	for _, n := range names {
		d := editDistance(strings.ToLower(n), strings.ToLower(word))
		short := min(len(n), len(word))
		if d == 0 || (d == 1 && short > 2) || (d == 2 && short > 4) {
			if found != "" {
				return ""
			}
			found = n
		}
	}
	return found
}

// editDistance counts the letters to change, add, remove or swap with
// the next to turn a into b (optimal string alignment distance).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// isHelpFlag reports whether a is the help flag, as the flag package reads it.
func isHelpFlag(a string) bool {
	return a == "--help" || a == "-help" || a == "-h" || a == "--h"
}

// helpAsked reports whether rest (a command's flags and arguments) holds
// the help flag before any "--", and returns its positional arguments
// (values of flags that take one are not).
func helpAsked(flags []cli.Flag, rest []string) (pos []string, asked bool) {
	takesValue := valueFlags(flags)
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		switch {
		case a == "--":
			return pos, asked
		case len(a) < 2 || a[0] != '-':
			pos = append(pos, a)
		case isHelpFlag(a):
			asked = true
		default:
			if name := strings.TrimLeft(a, "-"); !strings.Contains(name, "=") && takesValue[name] {
				j++
			}
		}
	}
	return pos, asked
}

// isFlagOf reports whether a is one of the flags named in takesValue
// (--name, -name, or either with =value); "-1" is not.
func isFlagOf(takesValue map[string]bool, a string) bool {
	if len(a) < 2 || a[0] != '-' {
		return false
	}
	name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
	_, ok := takesValue[name]
	return ok
}

// valueFlags says, for each name of flags, whether the flag takes a value.
func valueFlags(flags []cli.Flag) map[string]bool {
	takesValue := map[string]bool{}
	for _, f := range flags {
		tv := false
		if d, ok := f.(interface{ TakesValue() bool }); ok {
			tv = d.TakesValue()
		}
		for _, n := range f.Names() {
			takesValue[n] = tv
		}
	}
	return takesValue
}

// wholeFlags names the flags that take a whole number.
func wholeFlags(flags []cli.Flag) map[string]bool {
	return flagNames(flags, func(f cli.Flag) bool {
		switch f.(type) {
		case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
			return true
		}
		return false
	})
}

// flagNames names the flags (every name of each) that kind says yes to.
func flagNames(flags []cli.Flag, kind func(cli.Flag) bool) map[string]bool {
	out := map[string]bool{}
	for _, f := range flags {
		if kind(f) {
			for _, n := range f.Names() {
				out[n] = true
			}
		}
	}
	return out
}

// floatFlags names the flags that take a number that may have a fraction.
func floatFlags(flags []cli.Flag) map[string]bool {
	return flagNames(flags, func(f cli.Flag) bool { _, ok := f.(*cli.Float64Flag); return ok })
}

// errNotDecimal is a number written with underscores or in hexadecimal,
// which Go's parser reads (1_0 as 10, 0x1p-3 as 0.125) but which nobody
// means for a learning rate or a fraction.
var errNotDecimal = errors.New("expected a decimal number such as 0.001 or 1e-3")

// checkFloat refuses flag's value v where it is not decimal, or where it
// is a number other than 0 too small to hold, which Go's parser reads as
// 0 without a word (--lr 1e-400 was refused as "--lr 0").
func checkFloat(flag, v string) error {
	switch err := decimalError(v); err {
	case errNotDecimal:
		return fmt.Errorf("%s %q: %w", flag, v, err)
	case errUnderflow:
		return fmt.Errorf("%s %s: %w", flag, v, err)
	}
	return nil
}

// decimalError is errNotDecimal or errUnderflow where v is one of those
// (checked in that order), else nil.
func decimalError(v string) error {
	switch {
	case strings.Contains(v, "_") || strings.Contains(strings.ToLower(v), "0x"):
		return errNotDecimal
	case underflows(v):
		return errUnderflow
	}
	return nil
}

var errUnderflow = errors.New("too small to hold (it would be read as 0); the smallest a 64-bit float holds is about 4.9e-324")

// underflows reports whether v is a number other than 0 that parses as 0.
func underflows(v string) bool {
	mantissa, _, _ := strings.Cut(strings.ToLower(v), "e")
	f, err := strconv.ParseFloat(v, 64)
	return err == nil && f == 0 && strings.ContainsAny(mantissa, "123456789")
}

// parseDecimal reads a number as checkFloat allows it.
func parseDecimal(v string) (float64, error) {
	if err := decimalError(v); err != nil {
		return 0, err
	}
	return strconv.ParseFloat(v, 64)
}

// checkDecimal refuses a whole-number flag's value that is not plain
// decimal: the flag package reads 064 as octal (52), 0x100 as hex and
// 1_000 as 1000, and tune's lists read decimal, so `--batch-size 064`
// would train another batch size than the one written.
func checkDecimal(flag, v string) error {
	d := strings.TrimLeft(v, "+-")
	if len(v)-len(d) > 1 {
		d = "x" // two signs
	}
	digits := d != "" && strings.Trim(d, "0123456789") == ""
	switch {
	case digits && (d == "0" || d[0] != '0'):
		return nil
	case digits:
		t := strings.TrimLeft(d, "0")
		if t == "" {
			t = "0"
		}
		return fmt.Errorf("%s %q: write it without the leading zero (%s%s); the flag package would read it as octal", flag, v, strings.TrimSuffix(v, d), t)
	}
	return fmt.Errorf("%s %q: expected a whole number in decimal digits", flag, v)
}

// reorder puts the flags of rest (with the values of those that take one)
// before its positional arguments. An unknown flag is kept as a flag, for
// urfave/cli to refuse; a flag that takes a value but ends the line is
// refused here (moved before the arguments, it would take one of them).
func reorder(flags []cli.Flag, rest []string) ([]string, error) {
	takesValue := valueFlags(flags)
	whole, float := wholeFlags(flags), floatFlags(flags)
	var fl, pos []string
	dashdash := false
	seen := repeats{canonical: canonicalNames(flags), bools: map[string]bool{}, numbers: map[string]bool{}, given: map[string]givenFlag{}}
	for n, tv := range takesValue {
		seen.bools[seen.canonical[n]] = !tv
		seen.numbers[seen.canonical[n]] = whole[n] || float[n]
	}
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			pos, dashdash = append(pos, rest[j+1:]...), true
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		fl = append(fl, a)
		name := strings.TrimLeft(a, "-")
		if n, v, ok := strings.Cut(name, "="); ok && whole[n] {
			if err := checkDecimal("--"+n, v); err != nil {
				return nil, err
			}
		} else if ok && float[n] {
			if err := checkFloat("--"+n, v); err != nil {
				return nil, err
			}
		}
		if !strings.Contains(name, "=") && takesValue[name] {
			if j+1 == len(rest) {
				return nil, fmt.Errorf("%s needs a value", a)
			}
			if v := rest[j+1]; v == "--" || isHelpFlag(v) || isFlagOf(takesValue, v) {
				// `--out --cpu`: a forgotten value; the flag package would
				// take the next flag for it (and write a file named --cpu).
				return nil, fmt.Errorf("%s needs a value, but the flag %s follows it; give the value (one that starts with - goes as %s=VALUE)", a, v, a)
			}
			if whole[name] {
				if err := checkDecimal(a, rest[j+1]); err != nil {
					return nil, err
				}
			}
			if float[name] {
				if err := checkFloat(a, rest[j+1]); err != nil {
					return nil, err
				}
			}
			fl = append(fl, rest[j+1])
			j++
		}
		// After the value's own checks: a forgotten value is said as
		// one, not as a flag given twice.
		var err error
		if n, v, ok := strings.Cut(name, "="); ok {
			err = seen.add(a, n, v)
		} else if !takesValue[name] {
			err = seen.add(a, name, "true")
		} else {
			err = seen.add(a+" "+shell.Quote(rest[j]), name, rest[j])
		}
		if err != nil {
			return nil, err
		}
	}
	if dashdash {
		fl = append(fl, "--")
	}
	return append(fl, pos...), nil
}

// repeats finds a flag given twice with two values (--lr 0.01 ... --lr
// 0.03), which the flag package settles silently by the last: a run
// would train with another value than one the user wrote. The same value
// twice is taken.
type repeats struct {
	canonical map[string]string // every name of a flag: its first name
	bools     map[string]bool   // the first names of the flags that take no value
	numbers   map[string]bool   // and of those that take a number
	given     map[string]givenFlag
}

type givenFlag struct{ as, value string }

// add records the flag name with value v, as typed (as); an unknown name
// is left for the flag package to refuse.
func (r repeats) add(as, name, v string) error {
	c, ok := r.canonical[name]
	if !ok {
		return nil
	}
	if b, err := strconv.ParseBool(v); err == nil && r.bools[c] {
		v = strconv.FormatBool(b) // --cpu, --cpu=true and --cpu=1 agree
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && r.numbers[c] {
		v = strconv.FormatFloat(f, 'g', -1, 64) // 0.01 and 1e-2, 3 and +3 agree
	}
	prev, ok := r.given[c]
	if ok && prev.value != v {
		return fmt.Errorf("%s is given twice, as %s and as %s: give it once", "--"+c, prev.as, as)
	}
	r.given[c] = givenFlag{as, v}
	return nil
}

// canonicalNames maps every name of flags to the flag's first name.
func canonicalNames(flags []cli.Flag) map[string]string {
	out := map[string]string{}
	for _, f := range flags {
		for _, n := range f.Names() {
			out[n] = f.Names()[0]
		}
	}
	return out
}

// likelyArgError refuses, with what was likely meant, an argument of a
// command that takes none: a flag after "--" (which ends the flags),
// "true" or "false" as the value of a switch given apart (`--final false`,
// which sets --final and leaves "false" an argument), naming the switch
// where one alone was given, or the name of another command (`tune plot
// DIR`); nil for any other argument.
func likelyArgError(c *cli.Context, a string) error {
	if strings.HasPrefix(a, "-") && len(a) > 1 {
		return usageErrorf("%s takes no arguments, got %q after \"--\", which ends the flags: drop the \"--\"", cmdPath(c), a)
	}
	if hint := switchHint(c, a); hint != "" {
		return usageErrorf("%s takes no arguments, got %q: %s", cmdPath(c), a, hint)
	}
	// `tune plot DIR`: another command, written after this one.
	if a == "help" {
		return usageErrorf("%s takes no arguments, got %q: its help is %s", cmdPath(c), a, shell.Command(cmdPath(c)+" --help"))
	}
	for _, cmd := range c.App.Commands {
		if cmd.HasName(a) && cmd.Name != cmdPath(c) && !cmd.Hidden {
			use := a + " --help"
			if cmd.ArgsUsage != "" {
				use = a + " " + cmd.ArgsUsage
			}
			return usageErrorf("%s takes no arguments, got %q: %s is a command of its own, %s", cmdPath(c), a, a, shell.Command(use))
		}
	}
	return nil
}

// switchHint is the hint for an argument a of "true" or "false", which
// was meant as the value of a switch given before it ("" for any other
// argument).
func switchHint(c *cli.Context, a string) string {
	if !strings.EqualFold(a, "true") && !strings.EqualFold(a, "false") {
		return ""
	}
	// The switches given; for "false", those on by default first (a
	// switch off by default is seldom turned off).
	var set, on []string
	for _, f := range c.Command.Flags {
		if b, ok := f.(*cli.BoolFlag); ok && c.IsSet(b.Name) {
			set = append(set, b.Name)
			if b.Value {
				on = append(on, b.Name)
			}
		}
	}
	if len(on) > 0 && strings.EqualFold(a, "false") {
		set = on
	}
	name := "SWITCH"
	if len(set) == 1 {
		name = set[0]
	}
	return fmt.Sprintf("a switch takes a value only joined to it by =, as --%s=%s (the switch alone means true)", name, strings.ToLower(a))
}

// refuseArgs is the Before of commands that take no positional arguments.
func refuseArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		if err := likelyArgError(c, c.Args().First()); err != nil {
			return err
		}
		// `eval m.safetensors`: a file where --model was meant.
		if a := c.Args().First(); c.NArg() == 1 && !c.IsSet("model") && slices.ContainsFunc(c.Command.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), "model") }) && fileExists(a) {
			return usageErrorf("%s takes no arguments, got %q: give the checkpoint as --model %s", cmdPath(c), a, shell.Path(a))
		}
		return usageErrorf("%s takes no arguments, got %q (flags start with --; see %s)",
			cmdPath(c), c.Args().First(), shell.Command(cmdPath(c)+" --help"))
	}
	return nil
}

// refuseArgsIn sets refuseArgs as the Before of every command in cmds
// (and below) that declares no arguments and has no subcommands.
func refuseArgsIn(cmds []*cli.Command) {
	for _, c := range cmds {
		if len(c.Subcommands) > 0 {
			refuseArgsIn(c.Subcommands)
			continue
		}
		if c.ArgsUsage == "" && c.Before == nil {
			c.Before = refuseArgs
		}
	}
}

// cmdPath is the command's full name, e.g. "data fetch".
func cmdPath(c *cli.Context) string {
	var names []string
	for _, x := range c.Lineage() {
		if x.Command != nil && x.Command.Name != c.App.Name && x.Command.Name != "" && (len(names) == 0 || names[0] != x.Command.Name) {
			names = append([]string{x.Command.Name}, names...)
		}
	}
	return strings.Join(names, " ")
}

var (
	badValueRE  = regexp.MustCompile(`^invalid value "(.*)" for flag -([^:]+): `)
	undefinedRE = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	noValueRE   = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
	badBoolRE   = regexp.MustCompile(`^invalid boolean value "(.*)" for -+([^:]+): `)
)

// flagError rewrites the flag package's parse errors in the words of the
// rest of cnngpu: the flag as typed (--name), the value, what is expected.
func flagError(c *cli.Context, err error) error {
	msg := err.Error()
	if m := undefinedRE.FindStringSubmatch(msg); m != nil {
		if arg := "-" + m[1]; (strings.ContainsAny(m[1], "./") || fileExists(arg)) && slices.Contains(os.Args, arg) {
			// Most likely a file whose name begins with "-" (a name
			// with no dot is one where such a file is there).
			return fmt.Errorf("unknown flag %s: if it is a file, write ./%s, or put -- before the file names (what follows -- is never a flag)", arg, arg)
		}
		if c != nil && c.Command != nil {
			var names []string
			for _, f := range c.Command.Flags {
				names = append(names, f.Names()...)
			}
			if g := nearest(names, m[1]); g != "" && g != m[1] {
				return fmt.Errorf("unknown flag --%s (did you mean --%s?)", m[1], g)
			}
		}
		return fmt.Errorf("unknown flag --%s", m[1])
	}
	if m := noValueRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("--%s needs a value", m[1])
	}
	if m := badBoolRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("--%s=%s: expected --%s, --%s=true or --%s=false", m[2], m[1], m[2], m[2], m[2])
	}
	m := badValueRE.FindStringSubmatch(msg)
	if m == nil {
		return err
	}
	want := ""
	for _, f := range c.Command.Flags {
		if !slices.Contains(f.Names(), m[2]) {
			continue
		}
		switch f.(type) {
		case *cli.IntFlag:
			want = "a whole number"
			if checkDecimal("", m[1]) == nil {
				// Digits alone, but past what an int holds.
				want = fmt.Sprintf("a whole number up to %d", math.MaxInt)
			}
		case *cli.Uint64Flag:
			want = "a whole number from 0 to 18446744073709551615"
		case *cli.Float64Flag:
			want = "a number"
			if _, perr := strconv.ParseFloat(m[1], 64); errors.Is(perr, strconv.ErrRange) {
				want = "a number, and this one is out of range (too large to hold)"
			}
		case *cli.BoolFlag:
			want = "true or false"
		}
	}
	if want == "" {
		return err
	}
	return fmt.Errorf("--%s %q: expected %s", m[2], m[1], want)
}
