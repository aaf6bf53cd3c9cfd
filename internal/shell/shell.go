// Package shell writes the commands that cnngpu's hints tell a user to
// run: words quoted for a POSIX shell, and the program named as the user
// can run it again.
package shell

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Quote is s as one word for a POSIX shell: as it is when it holds only
// characters no shell treats specially, else in single quotes. A word
// with a control character, a bidirectional-text control or bytes that
// are not UTF-8 (a name from a damaged or crafted file) is written in
// bash's and zsh's $'...' with those escaped: written raw, they would
// act on the terminal the hint is printed to.
func Quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=@%+,-") == "" {
		return s
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unsafeRune) {
		var b strings.Builder
		b.WriteString("$'")
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && n <= 1, unsafeRune(r):
				for _, c := range []byte(s[i : i+n]) {
					fmt.Fprintf(&b, "\\x%02x", c)
				}
			case r == '\'' || r == '\\':
				b.WriteByte('\\')
				b.WriteRune(r)
			default:
				b.WriteString(s[i : i+n])
			}
			i += n
		}
		b.WriteByte('\'')
		return b.String()
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Path is the file name p as one word for a POSIX shell, as Quote writes
// it, and where it begins with "-" written "./-..." so that cnngpu (or
// chmod) reads it back as a file, not a flag: `--model -cpu` is refused
// as a flag where a value is due. "-" alone (standard input or output)
// is left as it is.
func Path(p string) string {
	if len(p) > 1 && p[0] == '-' {
		p = "./" + p
	}
	return Quote(p)
}

// unsafeRune reports whether r is a control character or a
// bidirectional-text control, which Quote escapes.
func unsafeRune(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }

var (
	programOnce sync.Once
	program     string
)

// Program is this program as the user can run it again, unquoted:
// "cnngpu" where that name on the PATH is this very program (a link to
// it included), else the name it was run by (./bin/cnngpu), which works
// again from the same folder.
func Program() string {
	programOnce.Do(func() { program = programOf(os.Args[0]) })
	return program
}

func programOf(arg0 string) string {
	if p, err := exec.LookPath("cnngpu"); err == nil {
		me, err1 := os.Executable()
		a, err2 := os.Stat(p)
		b, err3 := os.Stat(me)
		if err1 == nil && err2 == nil && err3 == nil && os.SameFile(a, b) {
			return "cnngpu"
		}
	}
	if arg0 == "" || filepath.Base(arg0) == "cnngpu" && !strings.Contains(arg0, "/") {
		return "cnngpu"
	}
	return arg0
}

// Command is the command line "PROGRAM args" for a hint, quoted as the
// hints write commands inside a sentence: 'cnngpu tune merge'. args is
// written as given (it may hold placeholders such as DIR...). Where the
// program's path itself needs quoting, the line is given without the
// outer quotes, which a shell takes as it is: '/a b/cnngpu' tune merge.
func Command(args string) string {
	p := Program()
	if q := Quote(p); q != p {
		return q + " " + args
	}
	return "'" + p + " " + args + "'"
}
