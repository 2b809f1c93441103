package e2e

import (
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// pgCluster is a throw-away PostgreSQL cluster on a free loopback port.
type pgCluster struct {
	bin, data, port string
	asPostgres      bool // run the binaries as the postgres user (we are root)
}

// newPGCluster makes and starts a cluster with initdb and pg_ctl, and stops
// and removes it when the test ends; it skips the test if it cannot.
func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Skip("PostgreSQL outage test skipped: no initdb under /usr/lib/postgresql/*/bin")
	}
	sort.Strings(bins)
	c := &pgCluster{bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "hookgate-pg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		// initdb and pg_ctl refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("PostgreSQL outage test skipped: running as root and there is no postgres user to run initdb as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.asPostgres = true
	}
	c.data = filepath.Join(dir, "data")
	_, c.port, _ = net.SplitHostPort(freePort(t))
	if out, err := c.run("initdb", "-D", c.data, "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		t.Skipf("PostgreSQL outage test skipped: initdb failed: %v: %s", err, out)
	}
	c.start(t)
	t.Cleanup(func() { c.run("pg_ctl", "-D", c.data, "-m", "immediate", "stop") })
	return c
}

func (c *pgCluster) run(name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	if c.asPostgres {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(c.bin, name)}, args...)...)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *pgCluster) start(t *testing.T) {
	t.Helper()
	opts := "-p " + c.port + " -c listen_addresses=127.0.0.1 -k " + filepath.Dir(c.data)
	if out, err := c.run("pg_ctl", "-D", c.data, "-o", opts, "-l", filepath.Join(filepath.Dir(c.data), "log"), "-w", "start"); err != nil {
		t.Fatalf("pg_ctl start: %v: %s", err, out)
	}
}

func (c *pgCluster) stopImmediate(t *testing.T) {
	t.Helper()
	if out, err := c.run("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop"); err != nil {
		t.Fatalf("pg_ctl stop: %v: %s", err, out)
	}
}

func (c *pgCluster) url() string {
	return "postgres://postgres@127.0.0.1:" + c.port + "/postgres?sslmode=disable"
}

// TestPostgresOutage stops hookgate's PostgreSQL (pg_ctl stop -m immediate)
// in the middle of a load. While it is down every delivery is answered 503
// with Retry-After (no 2xx without a write) and readyz answers 503; once it
// is started again hookgate recovers by itself, without a restart, and every
// acknowledged delivery reaches the sink.
func TestPostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL outage test runs real processes; skipped with -short")
	}
	pg := newPGCluster(t)
	dir := t.TempDir()
	sink := &exclusiveSink{inFlight: map[string]bool{}, delivered: map[string]int{}}
	dest := httptest.NewServer(sink)
	t.Cleanup(dest.Close)
	cfgPath, listen, adminAddr := faultConfig(t, dir, pg.url(), dest.URL)
	p := start(t, dir, cfgPath, adminAddr)
	t.Cleanup(p.kill9)
	l := newLedger(listen)

	stop := make(chan struct{})
	wait := l.load("pg", 8, stop)
	time.Sleep(1500 * time.Millisecond)
	_, ackedBefore, _ := l.counts()
	pg.stopImmediate(t)
	l.down.Store(time.Now().UnixNano())

	took := waitReady(t, adminAddr, 503, 5*time.Second)
	code, body := readyz(adminAddr)
	t.Logf("readyz %s after the stop: %d %s", took.Round(time.Millisecond), code, body)
	time.Sleep(3 * time.Second) // the load runs on against the stopped database
	_, ackedDown, refusedDown := l.counts()

	// A request held while the database was down may commit as soon as it
	// is back, before pg_ctl returns: the window closes before the start.
	l.down.Store(0)
	pg.start(t)
	restarted := time.Now()
	ready := waitReady(t, adminAddr, 200, 30*time.Second)
	var accepted time.Duration
	for {
		_, acked, _ := l.counts()
		if acked > ackedDown {
			accepted = time.Since(restarted)
			break
		}
		if time.Since(restarted) > 30*time.Second {
			close(stop)
			wait()
			t.Fatalf("no delivery accepted within 30 s of the restart of PostgreSQL; hookgate's log ends:\n%s", tail(p.logs.String(), 4<<10))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("after pg_ctl start: readyz 200 in %s, first 2xx in %s", ready.Round(time.Millisecond), accepted.Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	close(stop)
	wait()
	sent, acked, codes := l.summary()
	t.Logf("acknowledged %d before the stop, %d by its end (%d refused while down); in all sent %d, acknowledged %d, answers %s",
		ackedBefore, ackedDown, refusedDown, sent, acked, codes)
	l.checkAnswers(t)
	l.settle(t, "PostgreSQL outage", p, adminAddr, sink, 60*time.Second)
}
