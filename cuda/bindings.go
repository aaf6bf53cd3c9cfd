//go:build cgo && !windows

// bindings.go: what a cgo build says about itself (nocgo.go has the
// other side).

package cuda

// BindingsCompiled tells whether this build has the GPU bindings (cgo).
const BindingsCompiled = true
