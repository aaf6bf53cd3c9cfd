// help_test.go: the --help pages wrapped to 80 columns, their columns kept,
// and the hints for arguments given where a command takes none.

package main

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestWrapHelp: a long line is wrapped at spaces within the width, its
// continuation under the text's column (after a name's gap, or at the
// line's indentation), every word kept in order; short lines untouched.
func TestWrapHelp(t *testing.T) {
	in := "   --flag value  " + strings.Repeat("word ", 30) + "end\n" +
		"   " + strings.Repeat("prose ", 20) + "\n" +
		"   short  line\n" +
		"   --x  " + strings.Repeat("y", 90) + " z"
	out := wrapHelp(in, 40)
	lines := strings.Split(out, "\n")
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 40 && !strings.Contains(l, strings.Repeat("y", 90)) {
			t.Errorf("line of %d columns: %q", n, l)
		}
	}
	if !strings.HasPrefix(lines[0], "   --flag value  word") || !strings.HasPrefix(lines[1], strings.Repeat(" ", 17)+"word") {
		t.Errorf("a flag's usage not continued under its column:\n%s", out)
	}
	var prose int
	for _, l := range lines {
		if strings.HasPrefix(l, "   prose") {
			prose++
		}
	}
	if prose < 2 {
		t.Errorf("prose not continued at its indentation:\n%s", out)
	}
	if !strings.Contains(out, "\n   short  line\n") {
		t.Errorf("a short line changed:\n%s", out)
	}
	if strings.Join(strings.Fields(out), " ") != strings.Join(strings.Fields(in), " ") {
		t.Errorf("words lost or reordered:\n%s", out)
	}
	// A name column past half the width: the name alone on its line,
	// its text below, indented further (it ran into the name).
	narrow := wrapHelp("   --label-smoothing value  "+strings.Repeat("text ", 20), 40)
	if !strings.HasPrefix(narrow, "   --label-smoothing value\n       text") {
		t.Errorf("a wide name column at 40 columns:\n%s", narrow)
	}
}

// TestHelpFits: every help page, read through a pipe, fits 80 columns
// (a line may overflow only with a single word too long for it), and
// the pages say what the earlier ones left out.
func TestHelpFits(t *testing.T) {
	pages := [][]string{{"--help"}, {"train", "--help"}, {"eval", "--help"}, {"data", "--help"}, {"data", "fetch", "--help"},
		{"data", "verify", "--help"}, {"bench", "--help"}, {"devices", "--help"}, {"predict", "--help"}, {"export", "--help"},
		{"serve", "--help"}, {"tune", "--help"}, {"tune", "merge", "--help"}, {"plot", "--help"}}
	got := map[string]string{}
	for _, args := range pages {
		stdout, stderr, code := cnngpu(t, nil, args...)
		if code != 0 {
			t.Fatalf("cnngpu %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
		got[strings.Join(args, " ")] = stdout
		for _, l := range strings.Split(stdout, "\n") {
			if utf8.RuneCountInString(l) > helpWidth && len(strings.Fields(l)) > 1 {
				t.Errorf("cnngpu %s: a line of %d columns: %q", strings.Join(args, " "), utf8.RuneCountInString(l), l)
			}
		}
	}
	for page, want := range map[string][]string{
		"serve --help":      {"curl --data-binary @digit.png", `{"pixels": [784 numbers in 0..1]}`},
		"eval --help":       {"--model FILE", "--data DIR"},
		"tune --help":       {"above 0 and below 1", "--out DIR"},
		"tune merge --help": {"GPU 0 when one works, else the CPU"},
		"train --help":      {"without --cpu or --device: GPU 0 when one works", "from 0 to below 1"},
		"--help":            {"a Keras study of MNIST"},
		"export --help":     {"--out PATH"},
	} {
		joined := strings.Join(strings.Fields(got[page]), " ")
		for _, w := range want {
			if !strings.Contains(joined, w) {
				t.Errorf("cnngpu %s does not say %q:\n%s", page, w, got[page])
			}
		}
	}
}

// TestArgumentHints: an argument where a command takes none, which is a
// switch's value given apart or a flag after "--", is refused (exit 2)
// saying what was meant.
func TestArgumentHints(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tune", "--dry-run", "--final", "false", "--out", t.TempDir()}, "--final=false"},
		{[]string{"train", "--quiet", "false"}, "--quiet=false"},
		{[]string{"eval", "--json", "True"}, "--json=true"},
		{[]string{"train", "--json", "--quiet", "false"}, "--SWITCH=false"},
		{[]string{"train", "--", "--epochs", "1"}, `got "--epochs" after "--", which ends the flags`},
		{[]string{"tune", "--", "--lr", "1"}, `got "--lr" after "--"`},
		{[]string{"train", "--epoch", "1"}, "unknown flag --epoch (did you mean --epochs?)"},
		{[]string{"eval", "--modle", "m.safetensors"}, "unknown flag --modle (did you mean --model?)"},
		{[]string{"tune", "plot", t.TempDir()}, `got "plot": plot is a command of its own, '…plot DIR'`},
		{[]string{"train", "eval"}, `eval is a command of its own, '…eval --help'`},
		{[]string{"export", "help"}, `got "help": its help is '…export --help'`},
		{[]string{"tune", "merge", "--out", filepath.Join(t.TempDir(), "m"), "--final", "true", t.TempDir()}, `"true" is not a folder: a switch takes a value only joined to it by =, as --final=true`},
	} {
		_, stderr, code := cnngpu(t, nil, c.args...)
		// "…" in want stands for the binary's path.
		before, after, _ := strings.Cut(c.want, "…")
		if i := strings.Index(stderr, before); code != 2 || i < 0 || !strings.Contains(stderr[i+len(before):], after) {
			t.Errorf("cnngpu %s: exit %d, want 2 and %q in %q", strings.Join(c.args, " "), code, c.want, stderr)
		}
	}
}

// TestFlagErrorsBeforeEngine: a --data folder that is not there is refused
// before the GPU is looked for, whose note ("using the CPU engine: no
// NVIDIA driver …") came first, above the error that mattered.
func TestFlagErrorsBeforeEngine(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere")
	for _, args := range [][]string{
		{"train", "--data", missing},
		{"eval", "--model", filepath.Join(missing, "m.safetensors"), "--data", missing},
	} {
		_, stderr, code := cnngpu(t, nil, args...)
		if code != 2 || !strings.HasPrefix(stderr, "cnngpu: --data: data folder "+missing+" does not exist") {
			t.Errorf("cnngpu %s: exit %d, want 2 and the --data error first:\n%s", strings.Join(args, " "), code, stderr)
		}
	}
}
