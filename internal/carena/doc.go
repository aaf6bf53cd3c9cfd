// Package carena keeps the C heap's address space small under an
// address-space limit (arenas_cgo.go); in a build without cgo, or off
// Linux, there is nothing to do.
package carena
