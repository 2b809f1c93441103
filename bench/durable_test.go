package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
)

// TestDurableLog checks that every record a batch answered is in the log
// file, whole, once the answer came.
func TestDurableLog(t *testing.T) {
	l, err := openDurableLog(t.TempDir(), durableLogWrap)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := l.append(fmt.Sprintf("id-%03d", i), bytes.Repeat([]byte{byte('a' + i%26)}, 100+i))
			<-b.flushed
			if b.err != nil {
				t.Errorf("record %d: %v", i, b.err)
			}
		}()
	}
	wg.Wait()
	got := readDurableLog(t, l.f.Name())
	if len(got) != n {
		t.Fatalf("%d records in the log, want %d", len(got), n)
	}
	for i := range n {
		body, ok := got[fmt.Sprintf("id-%03d", i)]
		if !ok || !bytes.Equal(body, bytes.Repeat([]byte{byte('a' + i%26)}, 100+i)) {
			t.Errorf("record %d: %q (found %v)", i, body, ok)
		}
	}
}

// TestDurableLogWraps checks that the log starts over once it reached its
// size, as a write-ahead log is reused, instead of growing for the whole run.
func TestDurableLogWraps(t *testing.T) {
	const wrap = 4096
	l, err := openDurableLog(t.TempDir(), wrap)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	for i := range 100 {
		b := l.append(fmt.Sprintf("id-%03d", i), bytes.Repeat([]byte("x"), 100))
		<-b.flushed
		if b.err != nil {
			t.Fatal(b.err)
		}
	}
	fi, err := l.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > wrap {
		t.Errorf("the log grew to %d bytes, past its %d", fi.Size(), wrap)
	}
}

// TestDurableBaselineWriteFails checks that the durable baseline does not
// acknowledge a delivery it could not write: 503, as the gateway answers
// when its store fails.
func TestDurableBaselineWriteFails(t *testing.T) {
	srv, l, err := startDurableBaseline(benchSecret, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	defer srv.Close()
	post := func() int {
		body := []byte(`{"sent":"0"}`)
		req, _ := http.NewRequest(http.MethodPost, srv.url, bytes.NewReader(body))
		req.Header.Set("X-GitHub-Delivery", "d-1")
		req.Header.Set("X-Hub-Signature-256", sign(benchSecret, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(); code != http.StatusNoContent {
		t.Fatalf("a delivery the log kept: %d, want 204", code)
	}
	_ = l.f.Close() // the next write fails
	if code := post(); code != http.StatusServiceUnavailable {
		t.Fatalf("a delivery the log could not write: %d, want 503", code)
	}
	// A bad signature is refused before anything is written.
	req, _ := http.NewRequest(http.MethodPost, srv.url, strings.NewReader(`{}`))
	req.Header.Set("X-Hub-Signature-256", "sha256=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a bad signature: %d, want 401", resp.StatusCode)
	}
}

// TestDurableLogClosed checks that a record appended after close is
// answered with an error at once instead of waiting for a flusher that has
// stopped, and that close removes the log.
func TestDurableLogClosed(t *testing.T) {
	l, err := openDurableLog(t.TempDir(), durableLogWrap)
	if err != nil {
		t.Fatal(err)
	}
	l.close()
	b := l.append("late", []byte("x"))
	<-b.flushed
	if b.err == nil {
		t.Fatal("a record appended after close was acknowledged")
	}
	if _, err := os.Stat(l.f.Name()); !os.IsNotExist(err) {
		t.Errorf("the log is still there after close: %v", err)
	}
}

// TestDurableLogCloseWhileAppending checks that closing the log while
// requests still append answers each of them, kept or refused, so that none
// waits for a flusher that has stopped. (The send on the closed kick channel
// that close once raced with is now ruled out by construction: both happen
// under mu; the window was too narrow for a test to hit.)
func TestDurableLogCloseWhileAppending(t *testing.T) {
	for range 200 {
		l, err := openDurableLog(t.TempDir(), durableLogWrap)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; ; j++ {
					b := l.append(fmt.Sprintf("id-%d-%d", i, j), []byte("x"))
					<-b.flushed
					if b.err != nil {
						return // refused: the log is closed
					}
				}
			}()
		}
		l.close()
		wg.Wait()
	}
}

func readDurableLog(t *testing.T, path string) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string][]byte{}
	next := func() []byte {
		if len(b) < 4 {
			t.Fatalf("a record cut short: %d bytes left", len(b))
		}
		n := binary.BigEndian.Uint32(b)
		v := b[4 : 4+n]
		b = b[4+n:]
		return v
	}
	for len(b) > 0 {
		id := string(next())
		recs[id] = next()
	}
	return recs
}
