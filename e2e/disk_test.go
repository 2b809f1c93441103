package e2e

import (
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size (e.g. "32m") on a new directory and
// unmounts it when the test ends; it skips the test if it cannot mount one.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	disk := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(disk, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("full-disk test skipped: cannot mount a tmpfs (it needs root or CAP_SYS_ADMIN): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", disk).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", disk, err, out)
		}
	})
	return disk
}

// fill writes path until the file system is full and returns its size.
func fill(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n int64
	for _, chunk := range []int{1 << 20, 4 << 10, 512} {
		buf := make([]byte, chunk)
		for {
			w, err := f.Write(buf)
			n += int64(w)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return n
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// TestFullDisk puts hookgate's SQLite database on a small tmpfs and fills it
// under load. While it is full, deliveries are answered 503 with
// Retry-After and readyz answers 503; as space returns, hookgate recovers
// without a restart (2xx, readyz 200), its WAL shrinks back, and every
// acknowledged delivery is stored and delivered.
func TestFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("full-disk test runs a real process; skipped with -short")
	}
	disk := mountTmpfs(t, "32m")
	dir := t.TempDir()
	sink := &exclusiveSink{inFlight: map[string]bool{}, delivered: map[string]int{}}
	dest := httptest.NewServer(sink)
	t.Cleanup(dest.Close)
	db := filepath.Join(disk, "hookgate.db")
	cfgPath, listen, adminAddr := faultConfig(t, dir, "sqlite://"+db, dest.URL)
	p := start(t, dir, cfgPath, adminAddr)
	t.Cleanup(p.kill9) // before the unmount
	l := newLedger(listen)

	// Load while the disk fills, until ingress answers 503.
	stop := make(chan struct{})
	wait := l.load("full", 4, stop)
	time.Sleep(500 * time.Millisecond)
	filler := filepath.Join(disk, "filler")
	filled := fill(t, filler)
	deadline := time.Now().Add(30 * time.Second)
	for {
		l.mu.Lock()
		refused := l.codes[503]
		l.mu.Unlock()
		if refused > 0 {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			wait()
			_, _, codes := l.summary()
			t.Fatalf("no 503 within 30 s of filling the disk: %s\n%s", codes, p.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Readiness must see it while the disk stays full.
	code, body := readyz(adminAddr)
	for end := time.Now().Add(5 * time.Second); code != 503 && time.Now().Before(end); code, body = readyz(adminAddr) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wait()
	l.checkAnswers(t)
	if code != 503 {
		t.Errorf("readyz answered %d (%s) while every write failed on a full disk; want 503", code, body)
	} else {
		t.Logf("readyz on a full disk: %d %s", code, body)
	}
	walFull := fileSize(db + "-wal")
	sent, acked, codes := l.summary()
	t.Logf("disk full (filler %d KiB): database %d KiB, WAL %d KiB; sent %d, acknowledged %d, answers %s",
		filled>>10, fileSize(db)>>10, walFull>>10, sent, acked, codes)
	if code, body := readyz(adminAddr); code != 503 {
		t.Errorf("readyz answered %d (%s) on a full disk without traffic; want 503", code, body)
	}

	// Free space a step at a time, each followed by a burst of deliveries,
	// until a whole burst is accepted: the free space hookgate needs to
	// work again.
	const step, burst = 1 << 20, 200
	freed := int64(0)
	for freed < filled {
		freed = min(freed+step, filled)
		if err := os.Truncate(filler, filled-freed); err != nil {
			t.Fatal(err)
		}
		// Give readiness a moment to see the room (a probe a second).
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if code, _ := readyz(adminAddr); code == 200 {
				break
			}
		}
		refused := l.burst("recover", burst, 4)
		t.Logf("freed %d KiB: %d of %d refused; WAL %d KiB, database %d KiB",
			freed>>10, refused, burst, fileSize(db+"-wal")>>10, fileSize(db)>>10)
		if refused == 0 {
			break
		}
	}
	t.Logf("free space needed before a burst of %d deliveries is accepted whole: %d KiB", burst, freed>>10)
	l.checkAnswers(t)

	// Delete the filler: readiness and ingest recover without a restart, and
	// the WAL shrinks back.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	took := waitReady(t, adminAddr, 200, 10*time.Second)
	t.Logf("readyz 200 again %s after the filler was deleted", took.Round(time.Millisecond))
	stop = make(chan struct{})
	wait = l.load("after", 4, stop)
	time.Sleep(time.Second)
	close(stop)
	wait()
	l.checkAnswers(t)
	deadline = time.Now().Add(10 * time.Second)
	for fileSize(db+"-wal") > 1<<20 {
		if time.Now().After(deadline) {
			t.Errorf("the WAL is still %d KiB 10 s after space returned (%d KiB while full); want it back under 1 MiB",
				fileSize(db+"-wal")>>10, walFull>>10)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("after recovery: WAL %d KiB, database %d KiB", fileSize(db+"-wal")>>10, fileSize(db)>>10)
	if n := metric(t, adminAddr, "hookgate_storage_write_failures_total"); n <= 0 {
		t.Errorf("hookgate_storage_write_failures_total = %v after a full disk; want > 0", n)
	}
	l.settle(t, "full disk", p, adminAddr, sink, 60*time.Second)
}
