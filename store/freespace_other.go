//go:build !linux

package store

// freeSpace cannot tell on this system: the WAL keeps its usual size.
func freeSpace(dir string) (int64, bool) { return 0, false }
