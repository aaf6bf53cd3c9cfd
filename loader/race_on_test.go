// The race detector's build: allocation bounds measured in-process do not
// hold under it (it drops a quarter of sync.Pool's puts, so buffers are
// allocated again).

//go:build race

package loader

const raceBuild = true
