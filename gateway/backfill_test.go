package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/backfill"
)

// fakeGitHub is GitHub's webhook deliveries API as its REST docs describe
// it: GET {hook}/deliveries, newest first, per_page and a cursor carried in
// the Link header's rel="next" URL; POST {hook}/deliveries/{id}/attempts
// answers 202 and redelivers: it POSTs the delivery, signed with the hook's
// secret, to the gateway's ingress, and lists the redelivery as an attempt
// of its own (same guid, redelivery true).
type fakeGitHub struct {
	t        *testing.T
	token    string
	hook     string
	secret   string
	pageSize int // the most a page holds here, to exercise pagination
	srv      *httptest.Server
	ingress  string // the gateway's ingress URL + path
	clock    func() time.Time

	mu              sync.Mutex
	deliveries      []*ghDelivery // newest first
	nextID          int64
	redelivers      []string // guids redelivered
	limited         []int    // statuses of the rate-limit answers still to give
	beforeRedeliver func(guid string)
}

type ghDelivery struct {
	ID          int64     `json:"id"`
	GUID        string    `json:"guid"`
	DeliveredAt time.Time `json:"delivered_at"`
	Redelivery  bool      `json:"redelivery"`
	Duration    float64   `json:"duration"`
	Status      string    `json:"status"`
	StatusCode  int       `json:"status_code"`
	Event       string    `json:"event"`
	Action      *string   `json:"action"`
	body        []byte
}

func newFakeGitHub(t *testing.T, clock func() time.Time) *fakeGitHub {
	f := &fakeGitHub{t: t, token: "ghp_test_token", hook: "repos/acme/app/hooks/7", secret: "gh-hook-secret", pageSize: 2, clock: clock, nextID: 1000}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// add records a delivery attempt GitHub made (newest first).
func (f *fakeGitHub) add(guid string, at time.Time, code int, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	d := &ghDelivery{ID: f.nextID, GUID: guid, DeliveredAt: at, StatusCode: code, Event: "push", body: body, Status: "OK"}
	if code == 0 || code >= 300 {
		d.Status = "failed"
	}
	f.deliveries = append(f.deliveries, d)
	slices.SortStableFunc(f.deliveries, func(a, b *ghDelivery) int { return b.DeliveredAt.Compare(a.DeliveredAt) })
}

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token || r.Header.Get("Accept") != "application/vnd.github+json" {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`)
		return
	}
	f.mu.Lock()
	if len(f.limited) > 0 {
		code := f.limited[0]
		f.limited = f.limited[1:]
		f.mu.Unlock()
		if code == http.StatusForbidden { // primary limit: remaining 0 until reset
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(f.clock().Add(30*time.Second).Unix(), 10))
			w.WriteHeader(code)
			io.WriteString(w, `{"message":"API rate limit exceeded"}`)
			return
		}
		w.Header().Set("Retry-After", "7") // secondary limit
		w.WriteHeader(code)
		io.WriteString(w, `{"message":"You have exceeded a secondary rate limit"}`)
		return
	}
	f.mu.Unlock()
	base := "/" + f.hook + "/deliveries"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == base:
		f.list(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, base+"/") && strings.HasSuffix(r.URL.Path, "/attempts"):
		id, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, base+"/"), "/attempts"), 10, 64)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		f.redeliver(w, id)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeGitHub) list(w http.ResponseWriter, r *http.Request) {
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 {
		per = 30
	}
	per = min(per, 100, f.pageSize)
	f.mu.Lock()
	start := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		start = -1
		for i, d := range f.deliveries {
			if strconv.FormatInt(d.ID, 10) == c {
				start = i
			}
		}
		if start < 0 {
			f.mu.Unlock()
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	}
	end := min(start+per, len(f.deliveries))
	page := slices.Clone(f.deliveries[start:end])
	more := end < len(f.deliveries)
	var cursor int64
	if more {
		cursor = f.deliveries[end].ID
	}
	f.mu.Unlock()
	if more {
		w.Header().Set("Link", fmt.Sprintf(`<%s/%s/deliveries?per_page=%d&cursor=%d>; rel="next"`, f.srv.URL, f.hook, per, cursor))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(page)
}

func (f *fakeGitHub) redeliver(w http.ResponseWriter, id int64) {
	f.mu.Lock()
	var orig *ghDelivery
	for _, d := range f.deliveries {
		if d.ID == id {
			orig = d
		}
	}
	hook := f.beforeRedeliver
	f.mu.Unlock()
	if orig == nil {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"Not Found"}`)
		return
	}
	if hook != nil {
		hook(orig.GUID)
	}
	code := f.deliver(orig.GUID, orig.body)
	f.mu.Lock()
	f.redelivers = append(f.redelivers, orig.GUID)
	f.mu.Unlock()
	f.add(orig.GUID, f.clock(), code, orig.body)
	f.mu.Lock()
	f.deliveries[0].Redelivery = true
	f.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{}`)
}

// deliver POSTs a delivery to the gateway signed as GitHub signs it.
func (f *fakeGitHub) deliver(guid string, body []byte) int {
	m := hmac.New(sha256.New, []byte(f.secret))
	m.Write(body)
	req, _ := http.NewRequest(http.MethodPost, f.ingress, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Delivery", guid)
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waits records the waits a backfill asks for, without sleeping.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return nil
}

// accepted counts a connection's receipts by nonce: accepted ones (any
// status but duplicate, rejected) and duplicates.
func accepted(tg *testGateway, conn string) (map[string]int, map[string]int) {
	acc, dup := map[string]int{}, map[string]int{}
	for _, r := range tg.receipts(conn) {
		switch r.Status {
		case hookgate.StatusDuplicate:
			dup[r.Nonce]++
		case hookgate.StatusRejected, hookgate.StatusHandshake:
		default:
			acc[r.Nonce]++
		}
	}
	return acc, dup
}

func metricValue(t *testing.T, tg *testGateway, series string) string {
	t.Helper()
	status, body := do(t, mustRequest(t, http.MethodGet, tg.admin.URL+"/metrics"))
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestBackfillGitHub lists a hook's deliveries over several pages and
// through both of GitHub's rate-limit answers, finds those hookgate never
// stored (one GitHub saw answered 200, one that failed, one that arrives
// live while the backfill runs), has GitHub redeliver them, and each arrives
// signed through ingress: every delivery is held once, the late ones as
// duplicates.
func TestBackfillGitHub(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		var now func() time.Time
		fake := newFakeGitHub(t, func() time.Time { return now() })
		tg := newTestGatewayWith(t, storage, fmt.Sprintf(`
connections:
  - type: github
    name: gh
    signing_secret: %q
    backfill:
      api_token: %q
      api_base_url: %q
      hook: %q
`, fake.secret, fake.token, fake.srv.URL, fake.hook))
		now = tg.clock.Now
		fake.ingress = tg.ingest.URL + "/webhooks/github/gh"
		w := &waits{}
		tg.SetBackfillClient(backfill.Client{Sleep: w.sleep})

		t0 := tg.clock.Now()
		body := func(n string) []byte { return []byte(`{"ref":"refs/heads/main","n":"` + n + `"}`) }
		// guid-a reached hookgate; guid-b GitHub saw answered 200 by a
		// stalled tunnel; guid-c failed; guid-e failed and arrives live
		// while the backfill runs; guid-old is before the window.
		if code := fake.deliver("guid-a", body("a")); code != http.StatusNoContent {
			t.Fatalf("live delivery: %d", code)
		}
		fake.add("guid-old", t0.Add(-3*time.Hour), 502, body("old"))
		fake.add("guid-a", t0.Add(-50*time.Minute), 204, body("a"))
		fake.add("guid-b", t0.Add(-40*time.Minute), 200, body("b"))
		fake.add("guid-c", t0.Add(-30*time.Minute), 502, body("c"))
		fake.add("guid-e", t0.Add(-20*time.Minute), 0, body("e"))
		since := t0.Add(-time.Hour)

		// A dry run lists what is missing and changes nothing.
		rep, err := tg.Backfill(context.Background(), "gh", since, true)
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for _, it := range rep.Missing {
			missing = append(missing, it.Nonce)
		}
		if rep.Listed != 4 || !slices.Equal(missing, []string{"guid-e", "guid-c", "guid-b"}) || rep.Recovered != 0 {
			t.Fatalf("dry run: listed %d, missing %v, recovered %d", rep.Listed, missing, rep.Recovered)
		}
		if !rep.Missing[0].Failed || rep.Missing[2].Failed || rep.Missing[1].StatusCode != 502 {
			t.Fatalf("dry run items: %+v", rep.Missing)
		}
		if len(fake.redelivers) != 0 || len(tg.receipts("gh")) != 1 {
			t.Fatalf("dry run redelivered %v or stored receipts", fake.redelivers)
		}

		// The real run meets a primary rate limit (403, remaining 0, reset
		// in 30 s) and a secondary one (429, Retry-After 7), and guid-e
		// arrives live just before GitHub redelivers it.
		fake.mu.Lock()
		fake.limited = []int{http.StatusForbidden, http.StatusTooManyRequests}
		fake.beforeRedeliver = func(guid string) {
			if guid == "guid-e" {
				if code := fake.deliver("guid-e", body("e")); code != http.StatusNoContent {
					t.Errorf("live guid-e: %d", code)
				}
			}
		}
		fake.mu.Unlock()
		rep, err = tg.Backfill(context.Background(), "gh", since, false)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Recovered != 3 || len(rep.Errors) != 0 {
			t.Fatalf("run: %+v", rep)
		}
		if len(w.d) != 2 || w.d[0] < 30*time.Second || w.d[0] > 32*time.Second || w.d[1] != 7*time.Second {
			t.Fatalf("rate-limit waits = %v, want ~31s then 7s", w.d)
		}
		if !slices.Equal(fake.redelivers, []string{"guid-e", "guid-c", "guid-b"}) {
			t.Fatalf("redelivered %v", fake.redelivers)
		}
		// guid-b's original arrives late, after its redelivery.
		if code := fake.deliver("guid-b", body("b")); code != http.StatusNoContent {
			t.Fatalf("late guid-b: %d", code)
		}
		acc, dup := accepted(tg, "gh")
		want := map[string]int{"guid-a": 1, "guid-b": 1, "guid-c": 1, "guid-e": 1}
		if fmt.Sprint(acc) != fmt.Sprint(want) || dup["guid-e"] != 1 || dup["guid-b"] != 1 {
			t.Fatalf("accepted %v, duplicates %v", acc, dup)
		}
		if v := metricValue(t, tg, `hookgate_backfill_recovered_total{connection="gh",provider="github"}`); v != "3" {
			t.Fatalf("recovered metric = %q", v)
		}

		// Nothing is missing any more: a second run redelivers nothing.
		rep, err = tg.Backfill(context.Background(), "gh", since, false)
		if err != nil || len(rep.Missing) != 0 {
			t.Fatalf("second run: %+v, %v", rep, err)
		}
	})
}

// fakeStripe is Stripe's events API as its docs describe it: GET
// /v1/events?created[gte]=…&limit=…&starting_after=…, newest first, a list
// object with has_more; GET /v1/events/{id}; a Bearer secret key; 429 when
// rate limited.
type fakeStripe struct {
	key      string
	pageSize int
	srv      *httptest.Server

	mu       sync.Mutex
	events   []map[string]any // newest first
	limited  int              // 429 answers still to give
	onGet    func(id string)  // before answering GET /v1/events/{id}
	requests []string
}

func newFakeStripe(t *testing.T) *fakeStripe {
	f := &fakeStripe{key: "sk_test_backfill", pageSize: 2}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeStripe) add(id, typ string, created time.Time) []byte {
	e := map[string]any{"id": id, "object": "event", "type": typ, "created": created.Unix(), "livemode": false,
		"api_version": "2024-06-20", "data": map[string]any{"object": map[string]any{"id": "pi_" + id, "object": "payment_intent"}}}
	f.mu.Lock()
	f.events = append(f.events, e)
	slices.SortStableFunc(f.events, func(a, b map[string]any) int { return int(b["created"].(int64) - a["created"].(int64)) })
	f.mu.Unlock()
	b, _ := json.Marshal(e)
	return b
}

func (f *fakeStripe) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"message":"Invalid API Key provided","type":"invalid_request_error"}}`)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, r.URL.String())
	if f.limited > 0 {
		f.limited--
		f.mu.Unlock()
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"message":"Too many requests hit the API too quickly.","type":"invalid_request_error","code":"rate_limit"}}`)
		return
	}
	f.mu.Unlock()
	if id, ok := strings.CutPrefix(r.URL.Path, "/v1/events/"); ok {
		if f.onGet != nil {
			f.onGet(id)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, e := range f.events {
			if e["id"] == id {
				json.NewEncoder(w).Encode(e)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"message":"No such event","type":"invalid_request_error"}}`)
		return
	}
	if r.URL.Path != "/v1/events" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	gte, _ := strconv.ParseInt(q.Get("created[gte]"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = 10
	}
	limit = min(limit, 100, f.pageSize)
	f.mu.Lock()
	defer f.mu.Unlock()
	var sel []map[string]any
	for _, e := range f.events {
		if e["created"].(int64) >= gte {
			sel = append(sel, e)
		}
	}
	if after := q.Get("starting_after"); after != "" {
		i := slices.IndexFunc(sel, func(e map[string]any) bool { return e["id"] == after })
		sel = sel[i+1:]
	}
	more := len(sel) > limit
	sel = sel[:min(limit, len(sel))]
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "url": "/v1/events", "has_more": more, "data": sel})
}

// signedStripe signs body as Stripe does (Stripe-Signature: t=…,v1=…).
func signedStripe(secret string, body []byte, at time.Time) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	h := http.Header{}
	h.Set("Stripe-Signature", "t="+ts+",v1="+hex.EncodeToString(m.Sum(nil)))
	return h
}

// TestBackfillStripe lists events over several pages and through a 429,
// and ingests those hookgate lacks as receipts marked source=backfill, with
// the idempotency key of a live delivery: an event that arrives live while
// the backfill runs, and one that arrives live after it, dedupe.
func TestBackfillStripe(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		fake := newFakeStripe(t)
		const secret = "whsec_backfill"
		tg := newTestGatewayWith(t, storage, fmt.Sprintf(`
connections:
  - type: stripe
    name: pay
    signing_secret: %q
    backfill:
      api_token: %q
      api_base_url: %q
`, secret, fake.key, fake.srv.URL))
		w := &waits{}
		tg.SetBackfillClient(backfill.Client{Sleep: w.sleep})
		live := func(body []byte) int {
			st, _ := tg.post("/webhooks/stripe/pay", signedStripe(secret, body, tg.clock.Now()), body)
			return st
		}
		t0 := tg.clock.Now()
		fake.add("evt_old", "charge.succeeded", t0.Add(-2*time.Hour))
		e1 := fake.add("evt_1", "payment_intent.succeeded", t0.Add(-50*time.Minute))
		e2 := fake.add("evt_2", "payment_intent.created", t0.Add(-40*time.Minute))
		fake.add("evt_3", "payment_intent.canceled", t0.Add(-30*time.Minute))
		e4 := fake.add("evt_4", "invoice.paid", t0.Add(-20*time.Minute))
		if st := live(e1); st != http.StatusNoContent {
			t.Fatalf("live evt_1: %d", st)
		}
		since := t0.Add(-time.Hour)

		rep, err := tg.Backfill(context.Background(), "pay", since, true)
		if err != nil || rep.Listed != 4 || len(rep.Missing) != 3 || len(tg.receipts("pay")) != 1 {
			t.Fatalf("dry run: %+v, %v", rep, err)
		}

		// evt_2 arrives live while the backfill fetches it.
		fake.mu.Lock()
		fake.limited = 1
		fake.onGet = func(id string) {
			if id == "evt_2" {
				if st := live(e2); st != http.StatusNoContent {
					t.Errorf("live evt_2: %d", st)
				}
			}
		}
		fake.mu.Unlock()
		rep, err = tg.Backfill(context.Background(), "pay", since, false)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Recovered != 2 || rep.Duplicates != 1 || len(rep.Errors) != 0 {
			t.Fatalf("run: %+v", rep)
		}
		if !slices.Equal(w.d, []time.Duration{time.Second}) {
			t.Fatalf("429 waits = %v, want [1s]", w.d)
		}
		if !strings.Contains(fake.requests[0], "created%5Bgte%5D="+strconv.FormatInt(since.Unix(), 10)) ||
			!slices.ContainsFunc(fake.requests, func(u string) bool { return strings.Contains(u, "starting_after=") }) {
			t.Fatalf("requests %v: want created[gte] and starting_after pages", fake.requests)
		}
		// evt_4 arrives live after its backfill.
		if st := live(e4); st != http.StatusNoContent {
			t.Fatalf("late evt_4: %d", st)
		}
		acc, dup := accepted(tg, "pay")
		want := map[string]int{"evt_1": 1, "evt_2": 1, "evt_3": 1, "evt_4": 1}
		if fmt.Sprint(acc) != fmt.Sprint(want) || dup["evt_2"] != 1 || dup["evt_4"] != 1 {
			t.Fatalf("accepted %v, duplicates %v", acc, dup)
		}
		for _, r := range tg.receipts("pay") {
			full, err := tg.Store().Receipt(context.Background(), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			backfilled := r.Nonce == "evt_3" || (r.Nonce == "evt_4" && r.Status != hookgate.StatusDuplicate) ||
				(r.Nonce == "evt_2" && r.Status == hookgate.StatusDuplicate)
			if (full.Source == hookgate.SourceBackfill) != backfilled || (r.Source == hookgate.SourceBackfill) != backfilled {
				t.Errorf("receipt %s %s: source %q", r.Nonce, r.Status, full.Source)
			}
			if r.Nonce == "evt_3" && (r.EventType != "payment_intent.canceled" ||
				r.IdempotencyKey != "pay:payment_intent.canceled:evt_3" || !strings.Contains(string(full.Body), `"pi_evt_3"`)) {
				t.Errorf("backfilled receipt: %+v body %s", r, full.Body)
			}
		}
		var got map[string]any
		for _, r := range tg.receipts("pay") {
			if r.Nonce == "evt_3" {
				tg.api(http.MethodGet, "/api/v1/receipts/"+r.ID, nil, &got)
			}
		}
		if got["source"] != "backfill" {
			t.Fatalf("receipt JSON source = %v", got["source"])
		}
		if v := metricValue(t, tg, `hookgate_backfill_recovered_total{connection="pay",provider="stripe"}`); v != "2" {
			t.Fatalf("recovered metric = %q", v)
		}
	})
}

// TestBackfillRefused: a connection registered through the API cannot carry
// backfill (its token would be stored), a connection without backfill or of
// a provider without a listing API cannot run one, and a config without a
// token or with a bad hook fails at start.
func TestBackfillRefused(t *testing.T) {
	tg := newTestGateway(t, `
connections:
  - {type: github, name: plain, signing_secret: s}
`)
	var e map[string]any
	if st := tg.api(http.MethodPost, "/api/v1/connections", map[string]any{"type": "stripe", "name": "rt", "signing_secret": "whsec_x",
		"backfill": map[string]any{"every": "1h"}}, &e); st != http.StatusBadRequest || !strings.Contains(fmt.Sprint(e["message"]), "backfill") {
		t.Fatalf("run-time connection with backfill: %d %v", st, e)
	}
	if st := tg.api(http.MethodPost, "/api/v1/backfill", map[string]any{"connection": "plain", "since": time.Now().Format(time.RFC3339)}, &e); st != http.StatusBadRequest {
		t.Fatalf("backfill without config: %d %v", st, e)
	}
	if st := tg.api(http.MethodPost, "/api/v1/backfill", map[string]any{"connection": "nope", "since": time.Now().Format(time.RFC3339)}, &e); st != http.StatusNotFound {
		t.Fatalf("unknown connection: %d %v", st, e)
	}
	if st := tg.api(http.MethodPost, "/api/v1/backfill", map[string]any{"connection": "plain", "since": "yesterday"}, &e); st != http.StatusBadRequest {
		t.Fatalf("bad since: %d %v", st, e)
	}
	for _, c := range []*hookgate.Connection{
		{Type: "github", Name: "a", Backfill: &hookgate.Backfill{Hook: "repos/a/b/hooks/1"}},
		{Type: "github", Name: "a", Backfill: &hookgate.Backfill{APIToken: "t", Hook: "repos/a/hooks/x"}},
		{Type: "slack", Name: "a", Backfill: &hookgate.Backfill{APIToken: "t"}},
		{Type: "stripe", Name: "a", Backfill: &hookgate.Backfill{APIToken: "t", APIBaseURL: "ftp://x"}},
	} {
		if err := checkBackfill(c, false); err == nil {
			t.Errorf("%s %+v accepted", c.Type, *c.Backfill)
		}
	}
	if err := checkBackfill(&hookgate.Connection{Type: "github", Name: "a", Backfill: &hookgate.Backfill{APIToken: "t", Hook: "orgs/acme/hooks/9"}}, false); err != nil {
		t.Fatal(err)
	}
}

// TestBackfillLease: of two owners, one runs a connection's background
// backfill until its lease ends.
func TestBackfillLease(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		tg := newTestGatewayWith(t, storage, "connections: []\n")
		bs := tg.Store().(backfillStore)
		ctx, now := context.Background(), time.Now()
		for _, step := range []struct {
			owner string
			at    time.Duration
			want  bool
		}{{"a", 0, true}, {"b", time.Minute, false}, {"a", time.Minute, true}, {"b", 2 * time.Hour, true}, {"a", 2 * time.Hour, false}} {
			got, err := bs.TakeBackfillLease(ctx, "conn-"+t.Name(), step.owner, now.Add(step.at), now.Add(step.at+time.Hour))
			if err != nil || got != step.want {
				t.Fatalf("%s at %v: %v, %v; want %v", step.owner, step.at, got, err, step.want)
			}
		}
	})
}
