package bench

import (
	"os"
	"syscall"
)

// syncData flushes f's data, and of its metadata only what reading the data
// back needs, as SQLite does for its write-ahead log on Linux (fdatasync).
func syncData(f *os.File) error {
	return syscall.Fdatasync(int(f.Fd()))
}
