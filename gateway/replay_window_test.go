package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/cli"
)

// TestReplayWindowPrecedence sends deliveries signed at the edges of each
// window through real HTTP with the gateway's clock fixed: a connection's
// own replay_window_seconds wins, else the preset's (the provider's
// documented tolerance), else the server's webhooks.replay_window_seconds.
func TestReplayWindowPrecedence(t *testing.T) {
	now := time.Unix(1_750_000_000, 0)
	// The server default is wider than every preset tested, so a preset
	// that fell back to it would accept what its provider refuses.
	pg := newProviderGatewayAt(t, "webhooks:\n  replay_window_seconds: 900\n", func() time.Time { return now })
	own := func(s int) *int { return &s }
	conns := []struct {
		typ, name, auth string
		window          *int
	}{
		{"paddle", "paddle-preset", "", nil},
		{"paddle", "paddle-wider", "", own(60)},
		{"paddle", "paddle-narrower", "", own(2)},
		{"linear", "linear-preset", "", nil},
		{"linear", "linear-wider", "", own(3600)},
		{"calendly", "calendly-preset", "", nil},
		{"hubspot", "hubspot-preset", "", nil},
		{"hubspot", "hubspot-wider", "", own(3600)},
		{"stripe", "stripe-preset", "", nil},
		{"custom", "no-preset", "sha256", nil},
		{"custom", "no-preset-own", "sha256", own(30)},
	}
	for _, c := range conns {
		conn := map[string]any{"type": c.typ, "name": c.name, "signing_secret": "replay-secret-0123456789", "public_url": pg.url(c.typ, c.name)}
		if c.auth != "" {
			conn["auth"], conn["signature_header"], conn["timestamp_header"] = c.auth, "X-Signature", "X-Timestamp"
		}
		if c.window != nil {
			conn["replay_window_seconds"] = *c.window
		}
		pg.register(conn)
	}

	var seq atomic.Int64
	send := func(t *testing.T, typ, name string, age time.Duration) (int, []byte) {
		t.Helper()
		n := seq.Add(1)
		signed := now.Add(-age)
		body := fmt.Sprintf(`{"id":"evt_%d","event_id":"evt_%d","type":"test.event","event_type":"test.event","event":"test.event","webhookTimestamp":%d}`,
			n, n, signed.UnixMilli())
		o := cli.SendOptions{Type: typ, URL: pg.url(typ, name), Secret: "replay-secret-0123456789", Body: []byte(body), Now: signed, Event: "test.event"}
		if typ == "custom" {
			o.Auth, o.SignatureHeader, o.TimestampHeader = "sha256", "X-Signature", "X-Timestamp"
		}
		resp, b := pg.send(o)
		return resp.StatusCode, b
	}
	cases := []struct {
		name, typ, conn string
		age             time.Duration
		want            int
	}{
		// Paddle's SDKs: 5 s.
		{"paddle one second inside", "paddle", "paddle-preset", 4 * time.Second, http.StatusNoContent},
		{"paddle at the limit", "paddle", "paddle-preset", 5 * time.Second, http.StatusNoContent},
		{"paddle one second past", "paddle", "paddle-preset", 6 * time.Second, http.StatusConflict},
		{"paddle ahead of the limit", "paddle", "paddle-preset", -6 * time.Second, http.StatusConflict},
		{"paddle, own wider window", "paddle", "paddle-wider", 59 * time.Second, http.StatusNoContent},
		{"paddle, own wider window, past it", "paddle", "paddle-wider", 61 * time.Second, http.StatusConflict},
		{"paddle, own narrower window", "paddle", "paddle-narrower", 3 * time.Second, http.StatusConflict},
		// Linear's SDK: 60 s on the signed body's webhookTimestamp.
		{"linear one second inside", "linear", "linear-preset", 59 * time.Second, http.StatusNoContent},
		{"linear one second past", "linear", "linear-preset", 61 * time.Second, http.StatusConflict},
		{"linear, own wider window", "linear", "linear-wider", 30 * time.Minute, http.StatusNoContent},
		// Calendly's sample: 3 min.
		{"calendly one second inside", "calendly", "calendly-preset", 179 * time.Second, http.StatusNoContent},
		{"calendly one second past", "calendly", "calendly-preset", 181 * time.Second, http.StatusConflict},
		// HubSpot's SDKs: under 300 s.
		{"hubspot one second inside", "hubspot", "hubspot-preset", 299 * time.Second, http.StatusNoContent},
		{"hubspot at 300 s", "hubspot", "hubspot-preset", 300 * time.Second, http.StatusConflict},
		{"hubspot, own wider window", "hubspot", "hubspot-wider", 30 * time.Minute, http.StatusNoContent},
		// Stripe's 300 s holds though the server default is wider.
		{"stripe past its 300 s", "stripe", "stripe-preset", 301 * time.Second, http.StatusConflict},
		// No preset: the server default, unless the connection sets one.
		{"no preset, inside the server default", "custom", "no-preset", 899 * time.Second, http.StatusNoContent},
		{"no preset, past the server default", "custom", "no-preset", 901 * time.Second, http.StatusConflict},
		{"no preset, past its own window", "custom", "no-preset-own", 31 * time.Second, http.StatusConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pg.t = t
			st, b := send(t, c.typ, c.conn, c.age)
			if st != c.want {
				t.Fatalf("%s signed %v ago = %d %s, want %d", c.conn, c.age, st, b, c.want)
			}
			if st != http.StatusConflict {
				return
			}
			var e struct{ Error, Message string }
			if err := json.Unmarshal(b, &e); err != nil || e.Error != hookgate.EReplay || e.Message == "" {
				t.Fatalf("409 body = %s, want {\"error\":%q,\"message\":…}", b, hookgate.EReplay)
			}
		})
	}

	// A refused delivery is recorded as rejected with its reason and skew.
	pg.t = t
	rs := pg.receipts("calendly-preset")
	if len(rs) != 2 || rs[0].Status != hookgate.StatusRejected || rs[0].Reason != "timestamp_stale" {
		t.Fatalf("calendly receipts = %v, newest %s/%s, want 2 with a rejected timestamp_stale", statuses(rs), rs[0].Status, rs[0].Reason)
	}
	var tr struct {
		Skew *int64 `json:"timestamp_skew_seconds"`
	}
	if err := json.Unmarshal(rs[0].Trace, &tr); err != nil || tr.Skew == nil || *tr.Skew != 181 {
		t.Fatalf("trace = %s, want timestamp_skew_seconds 181", rs[0].Trace)
	}
}
