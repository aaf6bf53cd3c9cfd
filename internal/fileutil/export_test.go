// export_test.go: the test hook, for the tests of package fileutil_test.

package fileutil

// SetBeforeRename sets the hook called just before the rename (nil: none).
func SetBeforeRename(f func(tmp string)) { beforeRename = f }
