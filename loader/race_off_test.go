// A build without the race detector (see race_on_test.go).

//go:build !race

package loader

const raceBuild = false
