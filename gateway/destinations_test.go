package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/internal/servicetest"
	"github.com/hookgate/hookgate/internal/tcpproxy"
)

// destinationGateway serves the internal/svc connection of the dispatch
// tests (X-Token tok, X-Nonce, event type body:type) routing to handler
// "dest", defined by handlerYAML, from a configuration file.
func destinationGateway(t *testing.T, handlerYAML, retry string) *testGateway {
	t.Helper()
	return newTestGateway(t, fmt.Sprintf(`
handlers:
  - %s
connections:
  - type: internal
    name: svc
    auth: secret
    signature_header: X-Token
    signing_secret: tok
    nonce_header: X-Nonce
    event_type: body:type
    retry: %s
    routes:
      - {handlers: [dest]}
`, handlerYAML, retry))
}

// TestExecHandlerEndToEnd: a delivery accepted by the gateway runs the
// configured command with the body on stdin and the receipt's fields in
// its arguments and environment; a refusal (exit 65) is dead at once.
func TestExecHandlerEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := `cat > "$1/$2.json"; echo "$HOOKGATE_EVENT_TYPE $ORDER" > "$1/$2.env"; test "$ORDER" != "o_bad" || exit 65`
	tg := destinationGateway(t, fmt.Sprintf(`{name: dest, type: exec, command: [sh, -c, %q, sh, %q, "{{receipt_id}}"], env: {ORDER: "{{body:id}}"}, timeout: 10s}`, script, dir),
		"{max_attempts: 5}")
	body := `{"type":"order.paid","id":"o_1"}`
	r := tg.deliver("n1", body)
	bad := tg.deliver("n2", `{"type":"order.paid","id":"o_bad"}`)
	tg.drain()
	if got := tg.receipt(r.ID); got.Status != hookgate.StatusAcknowledged {
		t.Fatalf("receipt %s: %+v", got.Status, got.Attempts)
	}
	if b, err := os.ReadFile(filepath.Join(dir, r.ID+".json")); err != nil || string(b) != body {
		t.Fatalf("command got %q (%v)", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, r.ID+".env")); string(b) != "order.paid o_1\n" {
		t.Fatalf("command environment %q", b)
	}
	got := tg.receipt(bad.ID)
	if got.Status != hookgate.StatusDead || len(got.Attempts) != 1 || got.Attempts[0].Outcome != hookgate.OutcomeFatal ||
		!strings.Contains(got.Attempts[0].Error, "status 65") {
		t.Fatalf("refused receipt: %s %+v", got.Status, got.Attempts)
	}
}

// TestDestinationConfigErrors: a broker or exec handler with bad settings
// is refused when the file is checked, with the handler named, and
// checking never dials.
func TestDestinationConfigErrors(t *testing.T) {
	t.Parallel()
	for handler, want := range map[string]string{
		`{name: d, type: exec, command: []}`:                                     "command is required",
		`{name: d, type: exec, command: [no-such-program-hookgate]}`:             "no-such-program-hookgate",
		`{name: d, type: nats, url: "nats://127.0.0.1:1"}`:                       "subject is required",
		`{name: d, type: nats, url: "nats://127.0.0.1:1", subject: "a.*"}`:       "literal subject",
		`{name: d, type: rabbitmq, url: "amqp://127.0.0.1:1/"}`:                  "exchange or routing_key",
		`{name: d, type: redis, url: "redis://127.0.0.1:1/0"}`:                   "stream is required",
		`{name: d, type: kafka, brokers: ["127.0.0.1:1"], topic: t, key: "x.y"}`: "key:",
		`{name: d, type: smtp}`:                                                  `"smtp" is not available`,
		`{name: d, type: http, url: "http://x/", headers: {X-A: "{{nope}}"}}`:    "unknown placeholder",
	} {
		err := checkYAML(t, "unsigned_forwarding: true\nhandlers:\n  - "+handler+"\n")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `handler "d"`) {
			t.Errorf("%s: %v, want an error containing %q", handler, err, want)
		}
	}
	// Unreachable brokers are fine at load: they are dialled at the first delivery.
	if err := checkYAML(t, `handlers:
  - {name: a, type: nats, url: "nats://127.0.0.1:1", subject: s}
  - {name: b, type: rabbitmq, url: "amqp://127.0.0.1:1/", routing_key: q}
  - {name: c, type: redis, url: "redis://127.0.0.1:1/0", stream: s}
  - {name: d, type: kafka, brokers: ["127.0.0.1:1"], topic: t, key: "body:id"}
  - {name: e, type: exec, command: [sh, -c, "exit 0"]}
`); err != nil {
		t.Fatal(err)
	}
}

// natsStream creates a JetStream stream of the test's own on the real
// server and returns it with a subject it captures.
func natsStream(t *testing.T) (string, jetstream.Stream, string) {
	t.Helper()
	srv := servicetest.URL(t, servicetest.NATS, "no NATS server for the nats handler")
	b := make([]byte, 6)
	rand.Read(b)
	id := hex.EncodeToString(b)
	nc, err := nats.Connect(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	name := "HOOKGATE_GW_" + strings.ToUpper(id)
	st, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{"hookgate-gw." + id}, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteStream(context.Background(), name) })
	return srv, st, "hookgate-gw." + id
}

func streamMsgs(t *testing.T, st jetstream.Stream) uint64 {
	t.Helper()
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestNATSHandlerOutageEndToEnd: receipts accepted while the NATS server is
// unreachable fail and are retried with backoff; once it is back every one
// arrives exactly once (a replay is deduplicated by Nats-Msg-Id). The
// connection is shared, kept across a reload that leaves the handler as it
// is, and closed with the gateway.
func TestNATSHandlerOutageEndToEnd(t *testing.T) {
	t.Parallel()
	srv, st, subject := natsStream(t)
	u, _ := url.Parse(srv)
	proxy := tcpproxy.Start(t, u.Host)
	// A short circuit, so that the outage opens it and the test sees the
	// receipts wait for it and go once it closes.
	handler := fmt.Sprintf(`{name: dest, type: nats, url: "nats://%s", subject: %s, timeout: 2s, circuit: {failure_threshold: 4, reset_timeout: 10s}}`, proxy.Addr(), subject)
	tg := destinationGateway(t, handler, "{max_attempts: 20, initial_interval: 1s, max_interval: 1s}")

	var before []*hookgate.Receipt
	for i := range 3 {
		before = append(before, tg.deliver(fmt.Sprint("a", i), fmt.Sprintf(`{"type":"order.paid","n":%d}`, i)))
	}
	tg.drain()
	if n := streamMsgs(t, st); n != 3 {
		t.Fatalf("stream holds %d, want 3", n)
	}

	proxy.Down()
	var during []*hookgate.Receipt
	for i := range 3 {
		during = append(during, tg.deliver(fmt.Sprint("b", i), fmt.Sprintf(`{"type":"order.paid","n":%d}`, 10+i)))
	}
	tg.drain()
	for _, r := range during {
		if got := tg.receipt(r.ID); got.Status != hookgate.StatusFailed || got.NextAttemptAt == nil {
			t.Fatalf("while down: %s %+v", got.Status, got.Attempts)
		}
	}

	// Still down: the retries fail until the circuit opens, and then the
	// receipts wait for it without spending attempts.
	opened := false
	for range 5 {
		tg.clock.Add(2 * time.Second)
		tg.drain()
		for _, r := range during {
			opened = opened || strings.Contains(tg.receipt(r.ID).Reason, "circuit is open")
		}
	}
	if !opened {
		t.Fatal("the outage did not open the handler's circuit")
	}

	proxy.Up()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tg.clock.Add(2 * time.Second) // past the backoff and the circuit's reset_timeout in a few rounds
		tg.drain()
		acked := 0
		for _, r := range during {
			if tg.receipt(r.ID).Status == hookgate.StatusAcknowledged {
				acked++
			}
		}
		if acked == len(during) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d receipts delivered after the server came back", acked, len(during))
		}
		time.Sleep(100 * time.Millisecond) // the client reconnects in real time
	}
	if n := streamMsgs(t, st); n != 6 {
		t.Fatalf("stream holds %d, want 6: each receipt once", n)
	}
	// A replay is a new attempt with the same idempotency key: deduplicated.
	if _, err := tg.Replay(context.Background(), before[0].ID); err != nil {
		t.Fatal(err)
	}
	tg.drain()
	if got := tg.receipt(before[0].ID); got.Status != hookgate.StatusAcknowledged || streamMsgs(t, st) != 6 {
		t.Fatalf("after replay: %s, stream %d", got.Status, streamMsgs(t, st))
	}

	// Reloading the same handler keeps its connection.
	conns := proxy.Accepted()
	cfg, _, err := config.Parse([]byte(fmt.Sprintf("handlers:\n  - %s\n", handler) + connectionsYAML))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage = tg.live.Storage
	if _, err := tg.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	tg.deliver("c0", `{"type":"order.paid","n":20}`)
	tg.drain()
	if proxy.Accepted() != conns || streamMsgs(t, st) != 7 {
		t.Fatalf("after reload: %d connections (was %d), stream %d", proxy.Accepted(), conns, streamMsgs(t, st))
	}

	// Closing the gateway hangs up.
	tg.Close()
	for proxy.Open() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open after Close", proxy.Open())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const connectionsYAML = `connections:
  - type: internal
    name: svc
    auth: secret
    signature_header: X-Token
    signing_secret: tok
    nonce_header: X-Nonce
    event_type: body:type
    retry: {max_attempts: 20, initial_interval: 1s, max_interval: 1s}
    routes:
      - {handlers: [dest]}
`
