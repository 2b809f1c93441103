package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate/verify"
)

// listenCmd is `hookgate listen` (SPEC §7): a developer's machine receives a
// live copy of one connection's deliveries from a running hookgate, over the
// admin API, and forwards each to a local URL, re-signed with Standard
// Webhooks. hookgate keeps dispatching as usual: listen only reads.
func listenCmd() *cobra.Command {
	var conn, forward, secret string
	var replay int
	cmd := &cobra.Command{
		Use:   "listen --connection NAME --forward URL",
		Short: "Forward a connection's live deliveries to a local URL (like stripe listen, for every provider)",
		Long: `listen connects to a running hookgate's admin API, receives each new delivery of one
connection as it is accepted, and POSTs it to a local URL: the stored body, the provider's
original headers (less hop-by-hop ones), hookgate's Hookgate-Receipt-Id, Idempotency-Key,
Hookgate-Event-Type and Hookgate-Connection, and a Standard Webhooks signature
(webhook-id, webhook-timestamp, webhook-signature) made with --secret. Without --secret, a
secret is made for the session and printed, for the local app to verify with.
Each delivery prints one line with the local answer. --replay N sends the connection's last
N deliveries first. The gateway's own dispatch is not affected.`,
		Example: "  hookgate listen --connection primary --forward http://localhost:3000/hook\n" +
			"  hookgate listen --connection stripe-live --forward http://localhost:4242/webhook --replay 5 --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		Args: cobra.NoArgs,
	}
	client := adminFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&conn, "connection", "", "connection name (required)")
	f.StringVar(&forward, "forward", "", "local URL to POST each delivery to (required)")
	f.StringVar(&secret, "secret", "", "Standard Webhooks secret (whsec_…) to sign forwarded requests with; default: a new one, printed")
	f.IntVar(&replay, "replay", 0, "send the connection's last N deliveries first (at most 500)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if conn == "" || forward == "" {
			return &exitError{2, fmt.Errorf("--connection and --forward are required")}
		}
		if u, err := url.Parse(forward); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &exitError{2, fmt.Errorf("--forward must be an absolute http(s) URL")}
		}
		if replay < 0 || replay > 500 {
			return &exitError{2, fmt.Errorf("--replay must be between 0 and 500")}
		}
		if secret == "" {
			key := make([]byte, 24)
			_, _ = rand.Read(key)
			secret = "whsec_" + base64.StdEncoding.EncodeToString(key)
			fmt.Fprintf(cmd.ErrOrStderr(), "signing forwarded requests with %s (pass --secret to choose it)\n", secret)
		}
		signer, err := verify.New(verify.Config{Auth: "svix", Secrets: []verify.Secret{{ID: "listen", Value: secret}}})
		if err != nil {
			return &exitError{2, fmt.Errorf("--secret: %w", err)}
		}
		l := &listener{admin: client, conn: conn, forward: forward, signer: signer,
			out: cmd.OutOrStdout(), local: &http.Client{Timeout: 30 * time.Second}, sent: map[string]bool{}}
		// Subscribe before listing the last N, so that nothing accepted in
		// between is missed; ids already sent are skipped.
		events, err := openEvents(cmd.Context(), client)
		if err != nil {
			return err
		}
		defer events.Close()
		fmt.Fprintf(cmd.ErrOrStderr(), "forwarding deliveries of %s to %s (Ctrl-C to stop)\n", conn, forward)
		if replay > 0 {
			if err := l.replay(cmd.Context(), replay); err != nil {
				return err
			}
		}
		sc := bufio.NewScanner(events)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var t struct {
				ReceiptID  string  `json:"receipt_id"`
				Connection string  `json:"connection"`
				From       *string `json:"from"`
				Status     string  `json:"status"`
			}
			if json.Unmarshal([]byte(data), &t) != nil || t.Connection != conn || t.From != nil {
				continue
			}
			// A new delivery enters received (or filtered, or held when
			// paused); rejected requests and duplicates are not deliveries.
			if t.Status == "received" || t.Status == "filtered" || t.Status == "held" {
				l.send(cmd.Context(), t.ReceiptID)
			}
		}
		if cmd.Context().Err() != nil {
			return nil
		}
		if err := sc.Err(); err != nil {
			return err
		}
		return fmt.Errorf("the server closed the event stream (it is shutting down)")
	}
	return cmd
}

// openEvents opens the admin API's event stream (SSE).
func openEvents(ctx context.Context, client *adminClient) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(client.base, "/")+"/api/v1/events", nil)
	if err != nil {
		return nil, err
	}
	if client.token != "" {
		req.Header.Set("Authorization", "Bearer "+client.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, unreachable("admin API", client.base, "--admin-url", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e struct{ Error, Message string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		return nil, adminStatusError(resp.StatusCode, e.Error, e.Message)
	}
	return resp.Body, nil
}

type listener struct {
	admin   *adminClient
	conn    string
	forward string
	signer  *verify.Verifier
	out     io.Writer
	local   *http.Client
	sent    map[string]bool
}

// replay sends the connection's last n deliveries, oldest first.
func (l *listener) replay(ctx context.Context, n int) error {
	var page struct {
		Receipts []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"receipts"`
	}
	q := url.Values{"connection": {l.conn}, "limit": {fmt.Sprint(n)}}
	if err := l.admin.do(http.MethodGet, "/api/v1/receipts?"+q.Encode(), nil, &page); err != nil {
		return err
	}
	slices.Reverse(page.Receipts)
	for _, r := range page.Receipts {
		if r.Status != "rejected" && r.Status != "duplicate" {
			l.send(ctx, r.ID)
		}
	}
	return nil
}

// hopByHop are the headers a proxy does not forward (RFC 9110 §7.6.1), plus
// those the new request sets itself.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "Content-Length": true, "Host": true,
	"Webhook-Id": true, "Webhook-Timestamp": true, "Webhook-Signature": true,
}

// send forwards one receipt and prints a line with the local answer.
func (l *listener) send(ctx context.Context, id string) {
	if l.sent[id] {
		return
	}
	l.sent[id] = true
	var rc struct {
		ID             string              `json:"id"`
		EventType      string              `json:"event_type"`
		IdempotencyKey string              `json:"idempotency_key"`
		Headers        map[string][]string `json:"headers"`
		Body           *string             `json:"body"`
		BodyBase64     *string             `json:"body_base64"`
	}
	if err := l.admin.do(http.MethodGet, "/api/v1/receipts/"+url.PathEscape(id), nil, &rc); err != nil {
		fmt.Fprintf(l.out, "%s %s  fetch failed: %v\n", time.Now().Format(time.TimeOnly), id, err)
		return
	}
	var body []byte
	switch {
	case rc.Body != nil:
		body = []byte(*rc.Body)
	case rc.BodyBase64 != nil:
		body, _ = base64.StdEncoding.DecodeString(*rc.BodyBase64)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.forward, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(l.out, "%s %s  %v\n", time.Now().Format(time.TimeOnly), id, err)
		return
	}
	for k, vs := range rc.Headers {
		if !hopByHop[http.CanonicalHeaderKey(k)] {
			req.Header[http.CanonicalHeaderKey(k)] = vs
		}
	}
	req.Header.Set("Hookgate-Receipt-Id", rc.ID)
	req.Header.Set("Idempotency-Key", rc.IdempotencyKey)
	req.Header.Set("Hookgate-Event-Type", rc.EventType)
	req.Header.Set("Hookgate-Connection", l.conn)
	req.Header.Set("webhook-id", rc.ID)
	if err := l.signer.Sign(&verify.Request{Method: http.MethodPost, URL: req.URL, Header: req.Header, Body: body, Now: time.Now()}, 0); err != nil {
		fmt.Fprintf(l.out, "%s %s  sign: %v\n", time.Now().Format(time.TimeOnly), id, err)
		return
	}
	start := time.Now()
	resp, err := l.local.Do(req)
	took := time.Since(start).Round(time.Millisecond)
	event := rc.EventType
	if event == "" {
		event = "-"
	}
	if err != nil {
		fmt.Fprintf(l.out, "%s %s %s  → %v\n", start.Format(time.TimeOnly), rc.ID, event, err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	fmt.Fprintf(l.out, "%s %s %s  → %d %s (%v)\n", start.Format(time.TimeOnly), rc.ID, event, resp.StatusCode, http.StatusText(resp.StatusCode), took)
}
