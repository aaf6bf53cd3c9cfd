// Package shell writes the commands that cnngpu's hints tell a user to
// run: words quoted for a POSIX shell (on Windows, for cmd and
// PowerShell), and the program named as the user can run it again.
package shell

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
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
//
// On Windows, whose shells take neither single quotes (cmd) nor a
// backslash as an escape, a path's \ and : need no quotes, and a word
// that needs them is written in double quotes (which no Windows file
// name holds).
func Quote(s string) string { return quote(s, windows) }

// windows: the quoting is Windows' (Quote).
var windows = runtime.GOOS == "windows"

func quote(s string, windows bool) string {
	safe := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=@%+,-"
	if windows {
		safe = strings.Replace(safe, ",", `\`, 1) // PowerShell splits words at commas
	}
	if s != "" && strings.Trim(s, safe) == "" {
		return s
	}
	if windows && utf8.ValidString(s) && !strings.ContainsFunc(s, unsafeRune) && !strings.Contains(s, `"`) {
		// A trailing \ doubled: \" would escape the closing quote for a
		// program's C runtime.
		return `"` + s + strings.Repeat(`\`, len(s)-len(strings.TrimRight(s, `\`))) + `"`
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
	if arg0 == "" || arg0 == "cnngpu" || windows && (strings.EqualFold(arg0, "cnngpu") || strings.EqualFold(arg0, "cnngpu.exe")) {
		return "cnngpu" // found on the PATH, not by a path (bin\cnngpu is one)
	}
	return arg0
}

// Command is the command line "PROGRAM args" for a hint, quoted as the
// hints write commands inside a sentence: 'cnngpu tune merge'. args is
// written as given (it may hold placeholders such as DIR...). Where the
// program's path itself needs quoting, the line is given without the
// outer quotes, which a shell takes as it is: '/a b/cnngpu' tune merge.
//
// On Windows, where a quoted program is not run without PowerShell's &,
// the line is given as it is, with no outer quotes to copy by mistake.
func Command(args string) string {
	p := Program()
	if q := Quote(p); q != p || windows {
		return q + " " + args
	}
	return "'" + p + " " + args + "'"
}

// MakeWritable is the command that makes the read-only file path writable
// for its owner: chmod u+w, on Windows attrib -r (its read-only
// attribute, which Go reports as a mode without write bits).
func MakeWritable(path string) string {
	if windows {
		return "attrib -r " + Path(path)
	}
	return "chmod u+w " + Path(path)
}

// ShowPermissions is the command that lists who may read and write path:
// ls -l, on Windows icacls.
func ShowPermissions(path string) string {
	if windows {
		return "icacls " + Path(path)
	}
	return "ls -l " + Path(path)
}

// MakeReadable is the command that lets every user read the file path:
// chmod a+r, on Windows icacls granting the Users group read (by its SID,
// S-1-5-32-545: the group's name is translated on other languages'
// Windows).
func MakeReadable(path string) string {
	if windows {
		return "icacls " + Path(path) + " /grant *S-1-5-32-545:R"
	}
	return "chmod a+r " + Path(path)
}
