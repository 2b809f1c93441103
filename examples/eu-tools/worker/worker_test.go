package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/gateway"
)

// TestSeedFlows runs hookgate with the example's own hookgate.yaml in front
// of the worker, and walks seed 000's two dispatch branches: the generic
// notification endpoint is synchronous and answers with its handler's
// result; the account summary is an async job whose result the sender polls
// at the seed's own path, GET /webhooks/sales-prospecting/job/<job_id>.
func TestSeedFlows(t *testing.T) {
	worker := httptest.NewServer(Worker())
	t.Cleanup(worker.Close)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"EU_TOOLS_WORKER_URL":     worker.URL,
		"HOOKGATE_SIGNING_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"HOOKGATE_LISTEN":         "127.0.0.1:0",
		"HOOKGATE_ADMIN_LISTEN":   "127.0.0.1:0",
		"HOOKGATE_STORAGE_URL":    "sqlite://" + filepath.Join(dir, "eu-tools.db"),
	} {
		t.Setenv(k, v)
	}
	raw, err := os.ReadFile("../hookgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Every other secret gets a demo value, as run.sh sets them.
	for _, name := range []string{"LINEAR_WEBHOOK_SECRET", "INTERCOM_CLIENT_SECRET", "GITHUB_ACTIONS_WEBHOOK_SECRET",
		"GITHUB_PULL_REQUESTS_WEBHOOK_SECRET", "DATADOG_WEBHOOK_USERNAME", "DATADOG_WEBHOOK_PASSWORD",
		"DOCUSIGN_CONNECT_HMAC_KEY", "GOOGLE_CALENDAR_CHANNEL_TOKEN", "CLOUDFLARE_PAGES_WEBHOOK_SECRET",
		"QOVERY_WEBHOOK_SECRET", "KAY_WEBHOOK_PASSWORD"} {
		t.Setenv(name, "demo-"+strings.ToLower(name))
	}
	t.Setenv("INCIDENT_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	t.Setenv("NOTIFICATIONS_WEBHOOK_PASSWORD", "notifications-demo-password")
	t.Setenv("SALES_PROSPECTING_API_KEY", "sales-demo-api-key")
	cfg, missing, err := config.Parse(raw)
	if err != nil || len(missing) > 0 {
		t.Fatalf("config: %v, unset %v", err, missing)
	}
	cfg.Storage.SecretKeyFile = filepath.Join(dir, "eu-tools.key")
	gw, err := gateway.New(context.Background(), cfg, gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	ls, err := gw.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ls) }()
	t.Cleanup(func() { stop(); <-served })
	base := "http://" + ls.Public.Addr().String()

	send := func(method, path string, auth func(*http.Request), body string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		auth(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	basic := func(r *http.Request) { r.SetBasicAuth("notifications", "notifications-demo-password") }
	apiKey := func(r *http.Request) { r.Header.Set("Authorization", "Bearer sales-demo-api-key") }

	// Sync processing: the answer is the worker's.
	resp, b := send("POST", "/webhooks/notifications", basic, `{"channel":"#ops","text":"hello"}`)
	var note struct {
		OK        bool   `json:"ok"`
		Channel   string `json:"channel"`
		ReceiptID string `json:"receipt_id"`
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &note) != nil ||
		!note.OK || note.Channel != "#ops" || note.ReceiptID != resp.Header.Get("Hookgate-Receipt-Id") {
		t.Fatalf("sync notification: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}

	// Async processing: the answer carries the job id; the result comes
	// from the poll.
	resp, b = send("POST", "/webhooks/sales-prospecting/summary", apiKey, `{"account_id":"001XYZ"}`)
	var accepted struct {
		Data struct {
			ReceiptID string `json:"receipt_id"`
		} `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &accepted) != nil || accepted.Data.ReceiptID == "" {
		t.Fatalf("summary job: %d %s", resp.StatusCode, b)
	}
	job := accepted.Data.ReceiptID
	var poll struct {
		Status  string `json:"status"`
		Replies []struct {
			Handler string `json:"handler"`
			Body    string `json:"body"`
		} `json:"replies"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, b = send("GET", "/webhooks/sales-prospecting/job/"+job, apiKey, "")
		if resp.StatusCode != 200 || json.Unmarshal(b, &poll) != nil {
			t.Fatalf("poll: %d %s", resp.StatusCode, b)
		}
		if poll.Status == "acknowledged" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if poll.Status != "acknowledged" || len(poll.Replies) != 1 || poll.Replies[0].Handler != "salesforce-summary" ||
		!strings.Contains(poll.Replies[0].Body, `"summary":"Account 001XYZ: 3 open opportunities`) {
		t.Fatalf("job result: %s", b)
	}
	if resp, _ := send("GET", "/webhooks/sales-prospecting/job/"+job, func(*http.Request) {}, ""); resp.StatusCode != 401 {
		t.Fatalf("poll without the key: %d", resp.StatusCode)
	}
}
