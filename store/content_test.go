package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// TestBodiesStoredCompressed checks that a compressible body is stored
// smaller and read back byte for byte, and that bodies compression does not
// pay for (small, random) are stored as received.
func TestBodiesStoredCompressed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	random := make([]byte, 4096)
	rand.Read(random)
	json := []byte(`{"commits":[` + strings.Repeat(`{"url":"https://api.github.com/repos/acme/hookgate/commits","author":{"name":"Octo Cat"}},`, 40) + `{}]}`)
	for _, c := range []struct {
		name       string
		body       []byte
		compressed bool
	}{
		{"json", json, true},
		{"random", random, false},
		{"small", []byte(`{"a":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`), false},
		{"empty", []byte{}, false},
	} {
		r := &hookgate.Receipt{ID: "r-" + c.name, ConnectionType: "github", Connection: "primary",
			IdempotencyKey: "primary:push:" + c.name, ReceivedAt: time.Now(), Body: c.body}
		if _, err := db.Ingest(ctx, r, time.Hour); err != nil {
			t.Fatal(err)
		}
		var (
			stored   int64
			encoding int
		)
		if err := db.read.QueryRowContext(ctx, `SELECT LENGTH(b.body), b.encoding FROM bodies b
			JOIN receipts r ON r.seq = b.seq WHERE r.id = ?`, r.ID).Scan(&stored, &encoding); err != nil {
			t.Fatal(err)
		}
		if got := encoding == encodingS2; got != c.compressed {
			t.Errorf("%s: stored compressed %v, want %v", c.name, got, c.compressed)
		}
		if c.compressed && stored*2 > int64(len(c.body)) {
			t.Errorf("%s: %d bytes stored for %d", c.name, stored, len(c.body))
		}
		got, err := db.Receipt(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Body, c.body) {
			t.Errorf("%s: body read back differs (%d bytes, want %d)", c.name, len(got.Body), len(c.body))
		}
	}
	rs, _, err := db.Claim(ctx, "w", 10, time.Now().Add(time.Second), time.Minute)
	if err != nil || len(rs) != 4 {
		t.Fatalf("claim: %d, %v", len(rs), err)
	}
	for _, r := range rs {
		if r.ID == "r-json" && !bytes.Equal(r.Body, json) {
			t.Errorf("claimed body differs")
		}
	}
}

func FuzzPackBody(f *testing.F) {
	f.Add([]byte(strings.Repeat("abc", 200)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		stored, enc := packBody(body)
		got, err := unpackBody(stored, enc)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("round trip of %d bytes (encoding %d): %v", len(body), enc, err)
		}
		if _, err := unpackBody(stored, 7); err == nil {
			t.Fatal("unknown encoding accepted")
		}
	})
}

// FuzzHeaders holds the hand-written header encoding to encoding/json's:
// the same bytes for the same header map, and the same map decoded back.
func FuzzHeaders(f *testing.F) {
	f.Add("X-Github-Event", "push", "X-Multi", "a, b")
	f.Add("K", "\x00\"\\\n\r\t\u2028\u2029<>&", "", "\xff\xfe")
	f.Add("Ü", "é", "x-lower", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		h := http.Header{k1: {v1, v2}, k2: {v2}}
		if k1 == "nil" {
			h[k2] = nil
		}
		want, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		// encoding/json escapes <, > and & for HTML; the stored form need not.
		want = bytes.ReplaceAll(bytes.ReplaceAll(bytes.ReplaceAll(want, []byte(`\u003c`), []byte("<")),
			[]byte(`\u003e`), []byte(">")), []byte(`\u0026`), []byte("&"))
		got := encodeHeaders(h)
		if !bytes.Equal(got, want) {
			t.Fatalf("encodeHeaders(%q)\n got %s\nwant %s", h, got, want)
		}
		var ref http.Header
		if err := json.Unmarshal(got, &ref); err != nil {
			t.Fatal(err)
		}
		dec, err := decodeHeaders(string(got))
		if err != nil || !reflect.DeepEqual(dec, ref) {
			t.Fatalf("decodeHeaders(%s) = %q, %v; encoding/json decodes %q", got, dec, err, ref)
		}
	})
}

func TestDecodeHeadersRefusesOtherShapes(t *testing.T) {
	for _, bad := range []string{``, `[]`, `{"a":"b"}`, `{"a":[1]}`, `{"a":[`, `7`} {
		if _, err := decodeHeaders(bad); err == nil {
			t.Errorf("decodeHeaders(%q) accepted", bad)
		}
	}
	if h, err := decodeHeaders("null"); err != nil || h != nil {
		t.Errorf("null: %v, %v", h, err)
	}
	if h, err := decodeHeaders("{}"); err != nil || h == nil || len(h) != 0 {
		t.Errorf("{}: %v, %v", h, err)
	}
}

// benchBody is a 2 KiB JSON payload shaped like a push event (ids, URLs,
// words), which S2 compresses about 2:1.
var benchBody = func() []byte {
	var b strings.Builder
	b.WriteString(`{"ref":"refs/heads/main","commits":[`)
	for i := 0; b.Len() < 2000; i++ {
		fmt.Fprintf(&b, `{"id":"%040x","message":"fix retry %d in store","url":"https://github.com/acme/hookgate/commit/%040x"},`, i*7919, i, i*104729)
	}
	b.WriteString(`{}]}`)
	return []byte(b.String())
}()

func BenchmarkPackBody(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		packBody(benchBody)
	}
}

func BenchmarkUnpackBody(b *testing.B) {
	stored, enc := packBody(benchBody)
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := unpackBody(stored, enc); err != nil {
			b.Fatal(err)
		}
	}
}

var benchHeaders = http.Header{"Content-Type": {"application/json"}, "User-Agent": {"GitHub-Hookshot/abc123"},
	"X-Github-Event": {"push"}, "X-Github-Delivery": {"72d3162e-cc78-11e3-81ab-4c9367dc0958"},
	"X-Hub-Signature-256": {"sha256=" + strings.Repeat("ab", 32)}, "Content-Length": {"2048"}}

func BenchmarkEncodeHeaders(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		encodeHeaders(benchHeaders)
	}
}

func BenchmarkDecodeHeaders(b *testing.B) {
	s := string(encodeHeaders(benchHeaders))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeHeaders(s); err != nil {
			b.Fatal(err)
		}
	}
}
