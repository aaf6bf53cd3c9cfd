// Package envflag reads the CNNGPU_* environment variables that switch
// something on or off, one way for all of them: 1, true, yes or on (any
// case) is on; 0, false, no or off is off; unset or empty is the
// variable's default; anything else is an error that names the variable,
// its value and what was expected, for the command line to refuse before
// it does any work.
package envflag

import (
	"fmt"
	"os"
	"strings"
)

// Parse reads value v of a switch: (on, true) for a word that says on or
// off, (def, true) for "", and (def, false) for anything else.
func Parse(v string, def bool) (on, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return def, true
	case "1", "true", "yes", "on":
		return true, true
	case "0", "false", "no", "off":
		return false, true
	}
	return def, false
}

// Bool reads environment variable name as a switch whose default is def;
// onMeans and offMeans say what each value does, for the error (the one
// that is the default is said to be). The error is
// `NAME="value": expected 1 … or 0 …`.
func Bool(name string, def bool, onMeans, offMeans string) (bool, error) {
	v := os.Getenv(name)
	if on, ok := Parse(v, def); ok {
		return on, nil
	}
	return def, Error(name, v, def, onMeans, offMeans)
}

// Error is Bool's error for value v of name.
func Error(name, v string, def bool, onMeans, offMeans string) error {
	onDef, offDef := "", "; the default"
	if def {
		onDef, offDef = "; the default", ""
	}
	return fmt.Errorf("%s=%q: expected 1, true, yes or on (%s%s), or 0, false, no or off (%s%s)\nhint: set it to one of those, or unset it for the default", name, v, onMeans, onDef, offMeans, offDef)
}

// On says whether switch name is on, its default off; a value that is
// neither on nor off reads as off (where it matters, the command line has
// refused it already with Bool's error).
func On(name string) bool {
	on, ok := Parse(os.Getenv(name), false)
	return ok && on
}
