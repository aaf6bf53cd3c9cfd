// help.go: the --help pages wrapped to the reader's width: the terminal's
// (at most helpMaxWidth), or helpWidth columns where standard output is no
// terminal (a pipe, a pager, a file). A wrapped line's continuation starts
// under the column its text starts in (a flag's or a command's usage, an
// environment variable's meaning), so the columns stay readable.

package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
)

const (
	helpWidth    = 80  // where the width is unknown
	helpMaxWidth = 100 // longer lines read badly, however wide the terminal
	helpMinWidth = 40  // narrower terminals get this many columns, overflowing
)

// printWrappedHelp is cli.HelpPrinter: urfave/cli's own page, wrapped.
func printWrappedHelp(out io.Writer, templ string, data any) {
	var b bytes.Buffer
	cli.HelpPrinterCustom(&b, templ, data, nil)
	width := helpWidth
	if w, ok := terminalWidth(os.Stdout); ok && w > 0 {
		width = min(max(w, helpMinWidth), helpMaxWidth)
	}
	io.WriteString(out, wrapHelp(b.String(), width))
}

// wrapHelp wraps each line of text longer than width columns at spaces.
// The continuation lines are indented to the line's text column: where
// the line has a gap of two or more spaces after its first word or words
// (a name and its meaning), the column after that gap in the line's first
// half; else its own indentation. A word longer than a line stays whole.
func wrapHelp(text string, width int) string {
	var b strings.Builder
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(wrapHelpLine(strings.TrimRight(line, " "), width))
	}
	return b.String()
}

func wrapHelpLine(line string, width int) string {
	if utf8.RuneCountInString(line) <= width {
		return line
	}
	lead := len(line) - len(strings.TrimLeft(line, " "))
	col := lead // the text column, in bytes of line (the prefix is ASCII or not, so counted in runes below)
	if gap := strings.Index(line[lead:], "  "); gap > 0 {
		text := lead + gap + len(line[lead+gap:]) - len(strings.TrimLeft(line[lead+gap:], " "))
		if utf8.RuneCountInString(line[:text]) <= width/2 {
			col = text
		} else {
			// A narrow terminal: the name on its line, the text
			// below it, indented further.
			return line[:lead+gap] + "\n" + wrapHelpLine(strings.Repeat(" ", lead+4)+strings.TrimLeft(line[lead+gap:], " "), width)
		}
	}
	prefix := line[:col]
	indent := strings.Repeat(" ", utf8.RuneCountInString(prefix))
	room := width - utf8.RuneCountInString(prefix)
	var b strings.Builder
	b.WriteString(prefix)
	used := 0
	for _, w := range strings.Fields(line[col:]) {
		n := utf8.RuneCountInString(w)
		switch {
		case used == 0:
		case used+1+n > room:
			b.WriteString("\n" + indent)
			used = 0
		default:
			b.WriteByte(' ')
			used++
		}
		b.WriteString(w)
		used += n
	}
	return b.String()
}
