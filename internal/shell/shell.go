// Package shell writes the commands that cnngpu's hints tell a user to
// run: words quoted for a POSIX shell, and the program named as the user
// can run it again.
package shell

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Quote is s as one word for a POSIX shell: as it is when it holds only
// characters no shell treats specially, else in single quotes.
func Quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=@%+,-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

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
