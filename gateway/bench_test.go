package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// benchBody is a 2 KiB JSON delivery.
var benchBody = []byte(`{"action":"opened","pad":"` + strings.Repeat("x", 2048-28) + `"}`)

func benchRequest(i int64, secret string) *http.Request {
	body := bytes.Clone(benchBody)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	req := httptest.NewRequest("POST", "/webhooks/github/primary", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("delivery-%d", i))
	req.Header.Set("X-GitHub-Event", "pull_request")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	return req
}

// BenchmarkIngestSQLite measures the ingest path — signed request, verify,
// envelope, idempotency, durable commit of receipt and job — on SQLite with
// synchronous=FULL, requests in parallel as a provider's retries would be.
func BenchmarkIngestSQLite(b *testing.B) {
	tg := newTestGateway(b, `
handlers: [{name: audit, type: log}]
connections:
  - {type: github, name: primary, signing_secret: bench-secret, routes: [{handlers: [audit]}]}
`)
	h := tg.Ingress()
	var n atomic.Int64
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := benchRequest(n.Add(1), "bench-secret")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 204 {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}

// BenchmarkVerifyOnlyBaseline is the same request through HMAC verification
// and a 204 with no storage: the baseline the ingest figure is read against.
func BenchmarkVerifyOnlyBaseline(b *testing.B) {
	secret := []byte("bench-secret")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		m := hmac.New(sha256.New, secret)
		m.Write(buf.Bytes())
		got, _ := hex.DecodeString(strings.TrimPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256="))
		if !hmac.Equal(got, m.Sum(nil)) {
			w.WriteHeader(401)
			return
		}
		w.WriteHeader(204)
	})
	var n atomic.Int64
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, benchRequest(n.Add(1), "bench-secret"))
			if w.Code != 204 {
				b.Errorf("status %d", w.Code)
				return
			}
		}
	})
}
