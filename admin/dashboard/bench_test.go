package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/bench"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/gateway"
)

// seeded is a SQLite file holding 100k receipts, made once per test
// process by bench's seeder (the store's own ingest, claim and complete).
var seeded struct {
	once sync.Once
	dir  string
	err  error
}

const seedReceipts = 100_000

func TestMain(m *testing.M) {
	code := m.Run()
	if seeded.dir != "" {
		os.RemoveAll(seeded.dir)
	}
	os.Exit(code)
}

func seededStore(b *testing.B) string {
	b.Helper()
	seeded.once.Do(func() {
		seeded.dir, seeded.err = os.MkdirTemp("", "hookgate-dashboard-bench")
		if seeded.err != nil {
			return
		}
		start := time.Now()
		seeded.err = bench.Seed(context.Background(), bench.SeedConfig{
			StorageURL: "sqlite://" + filepath.Join(seeded.dir, "hookgate.db"), Receipts: seedReceipts,
			Connections: 4, BodySize: 1024})
		fmt.Fprintf(os.Stderr, "seeded %d receipts in %v\n", seedReceipts, time.Since(start).Round(time.Millisecond))
	})
	if seeded.err != nil {
		b.Fatal(seeded.err)
	}
	return "sqlite://" + filepath.Join(seeded.dir, "hookgate.db")
}

// BenchmarkPages100k renders the dashboard's pages over a store of 100k
// receipts, through the admin listener's whole handler (guard, session,
// store query, template), and reports the bytes of each page. Network
// time is not included: this is the server's time to the first byte and
// the size of what it sends.
func BenchmarkPages100k(b *testing.B) {
	storage := seededStore(b)
	var conns strings.Builder
	for i := range 4 {
		fmt.Fprintf(&conns, "  - {type: github, name: bench-%d, signing_secret: s, routes: [{handlers: [sink]}]}\n", i)
	}
	cfg, _, err := config.Parse([]byte("unsigned_forwarding: true\nadmin: {token: " + testToken + "}\nconnections:\n" + conns.String() +
		"handlers:\n  - {name: sink, type: http, url: 'http://127.0.0.1:9/'}\n"))
	if err != nil {
		b.Fatal(err)
	}
	cfg.Storage.URL = storage
	gw, err := gateway.New(context.Background(), cfg, gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer gw.Close()
	h := gw.AdminHandler()

	login := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/login", strings.NewReader(url.Values{"token": {testToken}}.Encode()))
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, login)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		b.Fatalf("login: %d", rec.Code)
	}
	rs, _, err := gw.Store().Receipts(context.Background(), hookFilterNewest())
	if err != nil || len(rs) == 0 {
		b.Fatal("no seeded receipt", err)
	}
	for _, page := range []struct{ name, path string }{
		{"search", "/receipts"},
		{"search-connection-status", "/receipts?connection=bench-1&status=acknowledged"},
		{"search-connection-event", "/receipts?connection=bench-3&event_type=release"},
		{"search-dead", "/receipts?status=dead"},
		{"search-page-2", ""}, // filled in from the first page's link
		{"receipt", "/receipts/" + rs[0].ID},
		{"overview-1h", "/"},
		{"overview-7d", "/?window=7d"},
	} {
		b.Run(page.name, func(b *testing.B) {
			path := page.path
			if path == "" {
				path = nextPage(b, h, cookies[0])
			}
			var size int
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1"+path, nil)
				req.AddCookie(cookies[0])
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "page-bytes")
		})
	}
}

func nextPage(b *testing.B, h http.Handler, c *http.Cookie) string {
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/receipts", nil)
	req.AddCookie(c)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body := rec.Body.String()
	i := strings.Index(body, `<a id="next" href="`)
	if i < 0 {
		b.Fatal("no next page link")
	}
	rest := body[i+len(`<a id="next" href="`):]
	return strings.ReplaceAll(rest[:strings.Index(rest, `"`)], "&amp;", "&")
}

func hookFilterNewest() hookgate.ReceiptFilter { return hookgate.ReceiptFilter{Limit: 1} }
