// Tests of the quoting and of the program's name in hints.
package shell

import (
	"os"
	"path/filepath"
	"testing"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"runs/model.safetensors": "runs/model.safetensors",
		"a b":                    "'a b'",
		"it's":                   `'it'\''s'`,
		"":                       "''",
		"$HOME":                  "'$HOME'",
		// A terminal's escapes, a newline, a bidirectional override
		// and bytes that are not UTF-8 are escaped, in $'...' (with
		// its own ' and \ escaped), never written raw.
		"/x/\x1b[2Jdir":     `$'/x/\x1b[2Jdir'`,
		"a\nb's \\ c":       `$'a\x0ab\'s \\ c'`,
		"name\u202etxt.exe": `$'name\xe2\x80\xaetxt.exe'`,
		"bad\xff.st":        `$'bad\xff.st'`,
		"é ü":               `'é ü'`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestQuoteWindows: a Windows path needs no quotes for its \ and :, and
// one with a space gets double quotes, which cmd and PowerShell both take
// (single quotes are words to cmd: 'runs\a.safetensors' was not found).
func TestQuoteWindows(t *testing.T) {
	for in, want := range map[string]string{
		`Z:\tmp\cnngpu.exe`:           `Z:\tmp\cnngpu.exe`,
		`runs\a.safetensors`:          `runs\a.safetensors`,
		`C:\Program Files\cnngpu.exe`: `"C:\Program Files\cnngpu.exe"`,
		"":                            `""`,
		"it's":                        `"it's"`,
		"a\x1bb":                      `$'a\x1bb'`,
		`C:\my runs\`:                 `"C:\my runs\\"`,
		"a,b.png":                     `"a,b.png"`,
	} {
		if got := quote(in, true); got != want {
			t.Errorf("quote(%q, windows) = %s, want %s", in, got, want)
		}
	}
}

// TestPath: a name that begins with "-" comes back as ./-name, which no
// command reads as a flag; "-" (standard input) and other names as Quote
// writes them.
func TestPath(t *testing.T) {
	for in, want := range map[string]string{
		"-cpu":           "./-cpu",
		"-m.safetensors": "./-m.safetensors",
		"--out x":        "'./--out x'",
		"-":              "-",
		"runs/-m":        "runs/-m",
		"/abs/-m":        "/abs/-m",
		"a b":            "'a b'",
		"m.safetensors":  "m.safetensors",
		"-\x1b[2J":       `$'./-\x1b[2J'`,
	} {
		if got := Path(in); got != want {
			t.Errorf("Path(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestProgramOf: "cnngpu" where the PATH finds this very binary under
// that name, else the path the program was run by.
func TestProgramOf(t *testing.T) {
	me, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(me, filepath.Join(dir, "cnngpu")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	if got := programOf("./bin/cnngpu"); got != "cnngpu" {
		t.Errorf("with a link to this binary on the PATH: %q, want cnngpu", got)
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "cnngpu"), []byte("#!/bin/sh\n"), 0o755)
	t.Setenv("PATH", other)
	for arg0, want := range map[string]string{"./bin/cnngpu": "./bin/cnngpu", "/a b/cnngpu": "/a b/cnngpu", `bin\cnngpu`: `bin\cnngpu`, "cnngpu": "cnngpu", "": "cnngpu"} {
		if got := programOf(arg0); got != want {
			t.Errorf("run as %q with another cnngpu on the PATH: %q, want %q", arg0, got, want)
		}
	}
}

func TestCommand(t *testing.T) {
	programOnce.Do(func() {})
	defer func(p string) { program = p }(program)
	for prog, want := range map[string]string{
		"cnngpu":       "'cnngpu tune merge --out DIR'",
		"./bin/cnngpu": "'./bin/cnngpu tune merge --out DIR'",
		"/a b/cnngpu":  "'/a b/cnngpu' tune merge --out DIR",
	} {
		program = prog
		if got := Command("tune merge --out DIR"); got != want {
			t.Errorf("program %q: %s, want %s", prog, got, want)
		}
	}
}

// TestMakeWritable: chmod u+w, and on Windows attrib -r, with the path as
// that system's shells take it.
func TestMakeWritable(t *testing.T) {
	if got := MakeWritable("a b/m.safetensors"); !windows && got != "chmod u+w 'a b/m.safetensors'" {
		t.Errorf("MakeWritable: %s", got)
	}
	defer func(w bool) { windows = w }(windows)
	windows = true
	if got := MakeWritable(`C:\a b\m.safetensors`); got != `attrib -r "C:\a b\m.safetensors"` {
		t.Errorf("MakeWritable on Windows: %s", got)
	}
}

// TestPermissionCommands: the commands hints give to see and widen a
// file's permissions, the path quoted for the shell.
func TestPermissionCommands(t *testing.T) {
	if got := ShowPermissions("a b"); !windows && got != "ls -l 'a b'" {
		t.Errorf("ShowPermissions: %s", got)
	}
	if got := MakeReadable("a b"); !windows && got != "chmod a+r 'a b'" {
		t.Errorf("MakeReadable: %s", got)
	}
	defer func(w bool) { windows = w }(windows)
	windows = true
	if got := ShowPermissions(`C:\a b`); got != `icacls "C:\a b"` {
		t.Errorf("ShowPermissions on Windows: %s", got)
	}
	if got := MakeReadable(`C:\a b`); got != `icacls "C:\a b" /grant *S-1-5-32-545:R` {
		t.Errorf("MakeReadable on Windows: %s", got)
	}
}
