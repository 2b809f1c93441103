package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hookgate/hookgate/config"
)

// TestReloadWhileRequestsFlow: deliveries keep flowing to one connection
// while reloads add a connection, change the first one's routes, are
// refused for a bad file, and remove the added connection. Every delivery to
// the steady connection is answered 204 (none dropped, none refused), a
// refused file leaves the running configuration in force, and each accepted
// file takes effect.
func TestReloadWhileRequestsFlow(t *testing.T) {
	t.Parallel()
	base := `
unsigned_forwarding: true
handlers: [{name: audit, type: log}, {name: second, type: log}]
connections:
  - {type: github, name: steady, signing_secret: s1, routes: [{handlers: [audit]}]}
`
	tg := newTestGateway(t, base)
	// post delivers a signed push; an error counts as status 0 (it runs in
	// goroutines, where t.Fatal may not be called).
	post := func(name, secret string, i int64) int {
		body := []byte(fmt.Sprintf(`{"n":%d}`, i))
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		req, err := http.NewRequest(http.MethodPost, tg.ingest.URL+"/webhooks/github/"+name, bytes.NewReader(body))
		if err != nil {
			return 0
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("%s-%d", name, i))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	reload := func(yaml string) ([]string, error) {
		cfg, _, err := config.Parse([]byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Storage.URL = tg.cfg.Storage.URL
		return tg.Reload(context.Background(), cfg)
	}

	// A steady stream of deliveries, until the reloads are done.
	var sent, refused atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var once sync.Once
	halt := func() { once.Do(func() { close(stop) }); wg.Wait() }
	defer halt()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int64) {
			defer wg.Done()
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if st := post("steady", "s1", w*1_000_000+i); st != http.StatusNoContent {
					refused.Add(1)
				}
				sent.Add(1)
			}
		}(int64(w))
	}

	if st := post("added", "s2", 1); st != http.StatusNotFound {
		t.Fatalf("before the reload, the new connection answered %d", st)
	}
	added := strings.Replace(base, "routes: [{handlers: [audit]}]}", "routes: [{handlers: [audit, second]}]}", 1) +
		"  - {type: github, name: added, signing_secret: s2}\n"
	if _, err := reload(added); err != nil {
		t.Fatal(err)
	}
	if st := post("added", "s2", 2); st != http.StatusNoContent {
		t.Fatalf("after the reload, the new connection answered %d", st)
	}
	if targets, _, _ := tg.snap.Load().Plan(tg.receipts("steady")[0]); len(targets) != 2 {
		t.Fatalf("the changed route plans %d handlers, want 2", len(targets))
	}

	// A bad file: refused, and the running configuration stays.
	bad := added + "  - {type: github, name: broken, signing_secret: s3, routes: [{handlers: [nope]}]}\n"
	if _, err := reload(bad); err == nil || !strings.Contains(err.Error(), `unknown handler "nope"`) {
		t.Fatalf("a bad file was not refused: %v", err)
	}
	if st := post("added", "s2", 3); st != http.StatusNoContent {
		t.Fatalf("after a refused reload, the connection answered %d", st)
	}
	unsigned := strings.Replace(strings.Replace(added, "unsigned_forwarding: true", "", 1),
		"{name: second, type: log}", `{name: second, type: http, url: "http://127.0.0.1:9/"}`, 1)
	if _, err := reload(unsigned); err == nil || !strings.Contains(err.Error(), "unsigned") {
		t.Fatal("a file serve would refuse (unsigned forwarding) was reloaded")
	}

	// Removing a connection; a key that needs a restart is named.
	restart, err := reload("listen: \"127.0.0.1:1\"\n" + base)
	if err != nil {
		t.Fatal(err)
	}
	if len(restart) != 1 || restart[0] != "listen" {
		t.Errorf("restart-only keys = %v, want [listen]", restart)
	}
	if st := post("added", "s2", 4); st != http.StatusNotFound {
		t.Fatalf("after removal, the connection answered %d", st)
	}
	halt()
	if refused.Load() != 0 || sent.Load() == 0 {
		t.Fatalf("%d of %d deliveries to the steady connection were not accepted", refused.Load(), sent.Load())
	}
	if n := len(tg.receipts("steady")); int64(n) != sent.Load() {
		t.Fatalf("%d receipts stored for %d deliveries", n, sent.Load())
	}
}
