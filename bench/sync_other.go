//go:build !linux

package bench

import "os"

// syncData flushes f (fsync where fdatasync is not to be had).
func syncData(f *os.File) error { return f.Sync() }
