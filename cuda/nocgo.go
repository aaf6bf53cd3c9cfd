//go:build !cgo || windows

// nocgo.go: without cgo (or on Windows) there is no way to load the NVIDIA
// libraries; every entry point says so.

package cuda

import (
	"errors"

	"github.com/cnngpu/cnngpu/internal/nvlib"
)

// BindingsCompiled tells whether this build has the GPU bindings (cgo, not
// Windows).
const BindingsCompiled = false

// errNoCgo says so; its hint to use --cpu is apart (SetupError.Hint), so
// that the CPU fall-back, which has taken it, leaves it out.
var errNoCgo error = &SetupError{Err: errors.New("this cnngpu has no GPU support: " + NoBindingsWhy()), Hint: UseCPU}

// Load reports that GPU support is not built in.
func Load() error { return errNoCgo }

// BLASUsable reports that GPU support is not built in.
func BLASUsable() error { return errNoCgo }

// DriverUsable reports that GPU support is not built in.
func DriverUsable() error { return errNoCgo }

// DriverVersion reports that GPU support is not built in.
func DriverVersion() (int, error) { return 0, errNoCgo }

// Devices reports that GPU support is not built in.
func Devices() ([]Device, error) { return nil, errNoCgo }

// BLASLibrary reports that GPU support is not built in.
func BLASLibrary() (*nvlib.Found, error) { return nil, errNoCgo }

// LtLibrary reports that GPU support is not built in.
func LtLibrary() (string, error) { return "", errNoCgo }

// DriverFile reports that GPU support is not built in.
func DriverFile() (string, error) { return "", errNoCgo }
