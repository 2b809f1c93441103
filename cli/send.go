package cli

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/verify"
)

func sendCmd() *cobra.Command {
	var (
		typ, auth, target, gatewayURL, conn, body, bodyFile string
		sigHeader, tsHeader, basic, apiKey, apiKeyHeader    string
		event, contentType                                  string
		secrets, headers                                    []string
		dryRun                                              bool
	)
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Build, sign and send a request exactly as a provider would",
		Long: `Build a webhook request the way the provider of --type sends it — its headers,
delivery id, timestamp and signature — and POST it to a connection. It is the way
to try a connection without the provider. The exit status is 0 when the gateway
answers 2xx, 1 otherwise.`,
		Example: `  hookgate send --type github --connection primary --secret "$GITHUB_WEBHOOK_SECRET" \
      --event pull_request --body '{"action":"opened","number":7,"pull_request":{"id":42}}'
  hookgate send --type incidentio --url http://localhost:8080/webhooks/incident/lead \
      --secret whsec_… --body-file incident.json --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			payload := []byte(body)
			if bodyFile != "" {
				var err error
				if payload, err = os.ReadFile(bodyFile); err != nil {
					return &exitError{2, err}
				}
			}
			if target == "" {
				if conn == "" {
					return &exitError{2, fmt.Errorf("give --url, or --connection NAME (with --gateway)")}
				}
				target = strings.TrimRight(gatewayURL, "/") + "/webhooks/" + typ + "/" + conn
			}
			u, err := url.Parse(target)
			if err != nil || u.Host == "" {
				return &exitError{2, fmt.Errorf("--url %q is not an absolute URL", target)}
			}
			preset, _ := verify.LookupPreset(typ)
			cfg := verify.Config{
				Auth:                 firstNonEmpty(auth, preset.Auth),
				SignatureHeader:      firstNonEmpty(sigHeader, preset.SignatureHeader),
				TimestampHeader:      firstNonEmpty(tsHeader, preset.TimestampHeader),
				ReplayWindow:         5 * time.Minute,
				AllowUnauthenticated: true,
			}
			preset.Apply(&cfg)
			if cfg.Auth == "" {
				return &exitError{2, fmt.Errorf("type %q has no preset: give --auth", typ)}
			}
			for i, s := range secrets {
				cfg.Secrets = append(cfg.Secrets, verify.Secret{ID: fmt.Sprintf("secret-%d", i+1), Value: s})
			}
			if basic != "" {
				user, pass, _ := strings.Cut(basic, ":")
				cfg.Basic = &hookgate.BasicAuth{Username: user, Password: pass}
			}
			if apiKey != "" {
				cfg.APIKey = &hookgate.APIKey{Header: apiKeyHeader, Value: apiKey}
			}
			v, err := verify.New(cfg)
			if err != nil {
				return &exitError{2, err}
			}
			h := http.Header{}
			h.Set("Content-Type", contentType)
			h.Set("User-Agent", "hookgate-send")
			if preset.NonceHeader != "" {
				h.Set(preset.NonceHeader, uuid.NewString())
			}
			if name, ok := strings.CutPrefix(preset.EventType, "header:"); ok && event != "" && !strings.Contains(name, "+") {
				h.Set(name, event)
			}
			for _, kv := range headers {
				k, val, ok := strings.Cut(kv, ":")
				if !ok {
					return &exitError{2, fmt.Errorf("--header %q must be 'Name: value'", kv)}
				}
				h.Set(strings.TrimSpace(k), strings.TrimSpace(val))
			}
			req := &verify.Request{Method: http.MethodPost, URL: u, Header: h, Body: payload, Now: time.Now()}
			if err := v.Sign(req, 0); err != nil {
				return err
			}
			if dryRun {
				fmt.Fprintln(cmd.OutOrStdout(), curlCommand(target, h, payload))
				return nil
			}
			hreq, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, target, bytes.NewReader(payload))
			if err != nil {
				return err
			}
			hreq.Header = h
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(hreq)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", resp.Proto, resp.Status)
			if len(answer) > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(string(answer)))
			}
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				return &exitError{1, fmt.Errorf("gateway answered %d", resp.StatusCode)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&typ, "type", "", "provider type (preset), e.g. github, incidentio, linear")
	f.StringVar(&auth, "auth", "", "auth type (default: the preset's)")
	f.StringVar(&target, "url", "", "full URL to post to")
	f.StringVar(&gatewayURL, "gateway", "http://127.0.0.1:8080", "gateway base URL, with --connection")
	f.StringVar(&conn, "connection", "", "connection name: posts to GATEWAY/webhooks/TYPE/NAME")
	f.StringArrayVar(&secrets, "secret", nil, "signing secret (the first is used)")
	f.StringVar(&sigHeader, "signature-header", "", "signature header (default: the preset's)")
	f.StringVar(&tsHeader, "timestamp-header", "", "timestamp header (default: the preset's)")
	f.StringVar(&basic, "basic", "", "USER:PASSWORD for basic auth")
	f.StringVar(&apiKey, "api-key", "", "API key for api_key auth")
	f.StringVar(&apiKeyHeader, "api-key-header", "", "API key header (default Authorization: Bearer)")
	f.StringVar(&event, "event", "", "event type, sent in the preset's event header (e.g. X-GitHub-Event)")
	f.StringVar(&body, "body", "", "request body")
	f.StringVar(&bodyFile, "body-file", "", "read the body from a file")
	f.StringVar(&contentType, "content-type", "application/json", "Content-Type")
	f.StringArrayVar(&headers, "header", nil, "extra header 'Name: value' (repeatable)")
	f.BoolVar(&dryRun, "dry-run", false, "print the signed request as a curl command instead of sending it")
	_ = cmd.MarkFlagRequired("type")
	return cmd
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// curlCommand renders a request as a shell-safe curl command line.
func curlCommand(target string, h http.Header, body []byte) string {
	var b strings.Builder
	b.WriteString("curl -i -X POST " + shellQuote(target))
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range h[k] {
			b.WriteString(" \\\n  -H " + shellQuote(k+": "+v))
		}
	}
	b.WriteString(" \\\n  --data-binary " + shellQuote(string(body)))
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
