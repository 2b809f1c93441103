package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/hookgate/hookgate"
)

// replayGateway has two connections, svc and other, whose deliveries all go
// dead at their first failure (the sink answers 500 until told otherwise),
// and a rejected receipt on svc. It returns the ids by connection and event
// type ("svc/order.paid", …) and the rejected receipt's id.
func replayGateway(t *testing.T, storage func(testing.TB) string, s *sink) (*testGateway, map[string][]string, string) {
	tg := newTestGatewayWith(t, storage, fmt.Sprintf(`
signing_secret: %s
handlers:
  - {name: forward, type: http, url: %q, timeout: 2s}
connections:
  - {type: internal, name: svc, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce,
     event_type: "body:type", retry: {max_attempts: 1}, routes: [{handlers: [forward]}]}
  - {type: internal, name: other, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce,
     event_type: "body:type", retry: {max_attempts: 1}, routes: [{handlers: [forward]}]}
`, hookgateSecret, s.srv.URL))
	byKind := map[string][]string{}
	n := 0
	send := func(conn, event string, count int) {
		for range count {
			n++
			nonce := fmt.Sprint("n", n)
			st, b := tg.post("/webhooks/internal/"+conn, http.Header{"X-Token": {"tok"}, "X-Nonce": {nonce}},
				[]byte(`{"type":"`+event+`"}`))
			if st != 204 {
				t.Fatalf("deliver = %d %s", st, b)
			}
			for _, r := range tg.receipts(conn) {
				if r.Nonce == nonce {
					byKind[conn+"/"+event] = append(byKind[conn+"/"+event], r.ID)
				}
			}
		}
	}
	send("svc", "order.paid", 3)
	send("svc", "order.refunded", 2)
	send("other", "order.paid", 2)
	if st, _ := tg.post("/webhooks/internal/svc", http.Header{"X-Token": {"wrong"}, "X-Nonce": {"forged"}},
		[]byte(`{"type":"order.paid"}`)); st != 401 {
		t.Fatalf("forged delivery = %d, want 401", st)
	}
	var rejected string
	for _, r := range tg.receipts("svc") {
		if r.Status == hookgate.StatusRejected {
			rejected = r.ID
		}
	}
	tg.drain()
	for kind, ids := range byKind {
		for _, id := range ids {
			if got := tg.receipt(id).Status; got != hookgate.StatusDead {
				t.Fatalf("%s receipt %s is %s before the replay, want dead", kind, id, got)
			}
		}
	}
	return tg, byKind, rejected
}

// statusesOf maps each receipt of conn to its status.
func (tg *testGateway) statusesOf(conn string) map[string]hookgate.Status {
	out := map[string]hookgate.Status{}
	for _, r := range tg.receipts(conn) {
		out[r.ID] = r.Status
	}
	return out
}

func TestBulkReplayDryRunCountsAndChangesNothing(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		s := newSink(t, 500)
		tg, _, _ := replayGateway(t, storage, s)
		before := tg.statusesOf("svc")

		var out map[string]any
		if st := tg.api("POST", "/api/v1/receipts/replay", map[string]any{"connection": "svc", "status": "dead", "dry_run": true}, &out); st != 200 {
			t.Fatalf("dry run = %d %v", st, out)
		}
		if out["dry_run"] != true || out["matched"] != 5.0 || out["would_replay"] != 5.0 || out["until"] == nil {
			t.Errorf("dry run of svc's dead receipts = %v, want 5 matched, 5 would replay, and an until", out)
		}
		// Without a status, svc's rejected receipt matches and is not replayed, and the answer says why.
		out = nil
		if st := tg.api("POST", "/api/v1/receipts/replay", map[string]any{"connection": "svc", "dry_run": true}, &out); st != 200 {
			t.Fatalf("dry run = %d %v", st, out)
		}
		skipped, _ := out["skipped"].(map[string]any)
		if out["matched"] != 6.0 || out["would_replay"] != 5.0 || skipped["rejected"] != 1.0 || out["note"] == nil {
			t.Errorf("dry run of svc = %v, want 6 matched, 5 would replay, 1 rejected skipped with a note", out)
		}
		if after := tg.statusesOf("svc"); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("a dry run changed receipts: %v → %v", before, after)
		}
		if s.count() != 7 {
			t.Errorf("the destination got %d calls, want the 7 first attempts only", s.count())
		}
	})
}

func TestBulkReplayReplaysOnlyTheFilteredSet(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		s := newSink(t, 500)
		tg, byKind, rejected := replayGateway(t, storage, s)

		var out map[string]any
		if st := tg.api("POST", "/api/v1/receipts/replay", map[string]any{"connection": "svc", "status": "dead",
			"event_type": "order.paid"}, &out); st != 202 {
			t.Fatalf("replay = %d %v", st, out)
		}
		if out["dry_run"] != false || out["matched"] != 3.0 || out["replayed"] != 3.0 || out["next_cursor"] != nil {
			t.Errorf("replay = %v, want 3 matched and replayed on one page", out)
		}
		want := map[string]hookgate.Status{}
		for kind, ids := range byKind {
			for _, id := range ids {
				want[id] = hookgate.StatusDead
				if kind == "svc/order.paid" {
					want[id] = hookgate.StatusReceived // a new round, due now
				}
			}
		}
		want[rejected] = hookgate.StatusRejected
		got := tg.statusesOf("svc")
		for id, st := range tg.statusesOf("other") {
			got[id] = st
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after the replay:\n got %v\nwant %v", got, want)
		}
		// The replayed receipts go through the dispatcher: a new round on the same receipt.
		s.mu.Lock()
		s.statuses = []int{200}
		s.mu.Unlock()
		tg.drain()
		for _, id := range byKind["svc/order.paid"] {
			r := tg.receipt(id)
			if r.Status != hookgate.StatusAcknowledged || r.Round != 1 || len(r.Attempts) != 2 {
				t.Errorf("replayed receipt %s: %s, round %d, %d attempts", id, r.Status, r.Round, len(r.Attempts))
			}
		}
		if s.count() != 7+3 {
			t.Errorf("the destination got %d calls, want 7 first attempts and 3 replays", s.count())
		}
	})
}

func TestBulkReplayPages(t *testing.T) {
	t.Parallel()
	s := newSink(t, 500)
	tg, byKind, _ := replayGateway(t, sqliteURL, s)
	filter := map[string]any{"connection": "svc", "status": "dead", "limit": 2}
	var replayed []string
	seen := map[string]bool{}
	for page := 1; ; page++ {
		before := tg.statusesOf("svc")
		var out map[string]any
		if st := tg.api("POST", "/api/v1/receipts/replay", filter, &out); st != 202 {
			t.Fatalf("page %d = %d %v", page, st, out)
		}
		for id, st := range tg.statusesOf("svc") {
			if st == hookgate.StatusReceived && before[id] == hookgate.StatusDead {
				if seen[id] {
					t.Fatalf("receipt %s replayed twice", id)
				}
				seen[id] = true
				replayed = append(replayed, id)
			}
		}
		if out["replayed"] != 2.0 && out["next_cursor"] != nil {
			t.Fatalf("page %d = %v, want 2 replayed", page, out)
		}
		// A delivery arriving between pages is not part of the set.
		if page == 1 {
			filter["until"] = out["until"]
			if st, b := tg.post("/webhooks/internal/svc", http.Header{"X-Token": {"tok"}, "X-Nonce": {"late"}},
				[]byte(`{"type":"order.paid"}`)); st != 204 {
				t.Fatalf("late delivery = %d %s", st, b)
			}
			tg.drain() // dead too
		}
		next, _ := out["next_cursor"].(string)
		if next == "" {
			break
		}
		filter["cursor"] = next
	}
	want := slices.Concat(byKind["svc/order.paid"], byKind["svc/order.refunded"])
	slices.Sort(want)
	slices.Sort(replayed)
	if !slices.Equal(replayed, want) {
		t.Errorf("replayed %v over the pages, want svc's 5 dead receipts %v", replayed, want)
	}
}

func TestBulkReplayBadFilter(t *testing.T) {
	t.Parallel()
	s := newSink(t, 500)
	tg := dispatchGateway(t, s, "{max_attempts: 1}")
	for name, body := range map[string]string{
		"no filter":      `{"dry_run": true}`,
		"unknown status": `{"status": "lost"}`,
		"rejected":       `{"status": "rejected"}`,
		"duplicate":      `{"status": "duplicate"}`,
		"in flight":      `{"status": "dispatched"}`,
		"bad since":      `{"connection": "svc", "since": "yesterday"}`,
		"bad until":      `{"until": "2026-13-01T00:00:00Z"}`,
		"since > until":  `{"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}`,
		"limit":          `{"connection": "svc", "limit": 501}`,
		"negative limit": `{"connection": "svc", "limit": -1}`,
		"unknown field":  `{"connection": "svc", "conection": "x"}`,
		"bad cursor":     `{"connection": "svc", "cursor": "!!"}`,
		"not JSON":       `connection=svc`,
	} {
		req, _ := http.NewRequest("POST", tg.admin.URL+"/api/v1/receipts/replay", bytes.NewBufferString(body))
		req.Header.Set("Content-Type", "application/json")
		st, b := do(t, req)
		if st != 400 {
			t.Errorf("%s: %d %s, want 400", name, st, b)
			continue
		}
		assertErrorBody(t, b, hookgate.EInvalid)
	}
}
