package cli

import (
	"bytes"
	"context"
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

// SendOptions describe a request as a provider would send it. Zero fields
// take the preset's defaults.
type SendOptions struct {
	// Type is the provider type (preset); Auth overrides its auth type.
	Type, Auth string
	// Method is the HTTP method (default POST); GET and HEAD are for
	// handshake-style requests.
	Method string
	// URL is where the request goes. Schemes that sign the URL (Twilio,
	// Square, Trello, HubSpot v3) sign exactly this URL, so a connection
	// must have it as its public_url.
	URL string
	// Secret signs the request (for the secret scheme: the shared secret).
	Secret string
	// Basic is USER:PASSWORD for basic auth.
	Basic string
	// APIKey and APIKeyHeader are the credential of api_key auth.
	APIKey, APIKeyHeader string
	// SignatureHeader, TimestampHeader and the generic hmac scheme's
	// settings override the preset's.
	SignatureHeader, TimestampHeader                    string
	Algorithm, Encoding, SignaturePrefix, SignedContent string
	// Event is sent in the preset's event header, when it has one.
	Event string
	// ContentType defaults to application/json (none for GET and HEAD).
	ContentType string
	// Header holds extra headers, set after the preset's and before signing.
	Header http.Header
	Body   []byte
	// Now is the signing time (default time.Now).
	Now time.Time
}

// ProviderRequest is a built and signed request. URL and Body are the ones
// signed: a scheme may add to the URL (Twilio's bodySHA256) or rewrite the
// body (schemes whose credential travels in it).
type ProviderRequest struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// HTTPRequest returns the request ready to send.
func (p *ProviderRequest) HTTPRequest(ctx context.Context) (*http.Request, error) {
	var body io.Reader
	if len(p.Body) > 0 {
		body = bytes.NewReader(p.Body)
	}
	req, err := http.NewRequestWithContext(ctx, p.Method, p.URL, body)
	if err != nil {
		return nil, err
	}
	req.Header = p.Header.Clone()
	return req, nil
}

// BuildRequest builds and signs a request exactly as the provider of
// o.Type sends it: its headers, delivery id, timestamp and signature. It is
// what `hookgate send` sends. Errors in the options are usage errors.
func BuildRequest(o SendOptions) (*ProviderRequest, error) {
	usage := func(err error) error { return &exitError{2, err} }
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" {
		return nil, usage(fmt.Errorf("--url %q is not an absolute URL", o.URL))
	}
	method := strings.ToUpper(firstNonEmpty(o.Method, http.MethodPost))
	preset, _ := verify.LookupPreset(o.Type)
	cfg := verify.Config{
		Auth:                 firstNonEmpty(o.Auth, preset.Auth),
		SignatureHeader:      firstNonEmpty(o.SignatureHeader, preset.SignatureHeader),
		TimestampHeader:      firstNonEmpty(o.TimestampHeader, preset.TimestampHeader),
		ReplayWindow:         5 * time.Minute,
		AllowUnauthenticated: true,
		Algorithm:            o.Algorithm,
		Encoding:             o.Encoding,
		Prefix:               o.SignaturePrefix,
		Template:             o.SignedContent,
	}
	preset.Apply(&cfg)
	if cfg.Auth == "" {
		return nil, usage(noPreset(o.Type))
	}
	if o.Secret != "" {
		cfg.Secrets = []verify.Secret{{ID: hookgate.SecretID(o.Secret), Value: o.Secret}}
	}
	if o.Basic != "" {
		user, pass, _ := strings.Cut(o.Basic, ":")
		cfg.Basic = &hookgate.BasicAuth{Username: user, Password: pass}
	}
	if o.APIKey != "" {
		cfg.APIKey = &hookgate.APIKey{Header: o.APIKeyHeader, Value: o.APIKey}
	}
	// A handshake-style GET or HEAD without any credential is sent
	// unsigned, as providers send theirs (Meta, Dropbox, Trello).
	unsigned := (method == http.MethodGet || method == http.MethodHead) && o.Secret == "" && o.Basic == "" && o.APIKey == ""
	var v *verify.Verifier
	if !unsigned {
		var err error
		if v, err = verify.New(cfg); err != nil {
			if len(cfg.Secrets) == 0 && cfg.Basic == nil && cfg.APIKey == nil {
				return nil, usage(missingSecret(cfg.Auth))
			}
			return nil, usage(err)
		}
	}
	h := http.Header{}
	contentType := o.ContentType
	if contentType == "" && method != http.MethodGet && method != http.MethodHead {
		contentType = "application/json"
	}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	h.Set("User-Agent", "hookgate-send")
	// A nonce spec may join several headers with "+" (Google Calendar's
	// channel id + message number): each gets a value.
	for _, name := range strings.Split(preset.NonceHeader, "+") {
		if name != "" {
			h.Set(name, uuid.NewString())
		}
	}
	if name, ok := strings.CutPrefix(preset.EventType, "header:"); ok && o.Event != "" && !strings.Contains(name, "+") {
		h.Set(name, o.Event)
	}
	for k, vs := range o.Header {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	req := &verify.Request{Method: method, URL: u, Header: h, Body: o.Body, Now: now}
	if v != nil {
		if err := v.Sign(req, 0); err != nil {
			return nil, fmt.Errorf("sign as %s: %w", cfg.Auth, err)
		}
	}
	target := o.URL
	if req.URL != nil && req.URL.String() != u.String() {
		target = req.URL.String()
	}
	return &ProviderRequest{Method: method, URL: target, Header: req.Header, Body: req.Body}, nil
}

func sendCmd() *cobra.Command {
	var (
		o                                SendOptions
		gatewayURL, conn, body, bodyFile string
		secrets, headers                 []string
		dryRun                           bool
	)
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Build, sign and send a request exactly as a provider would",
		Long: `Build a webhook request the way the provider of --type sends it — its headers,
delivery id, timestamp and signature — and send it to a connection. It is the way
to try a connection without the provider. Schemes that sign the URL (twilio,
square, trello, hubspot) sign the --url given, so the connection's public_url must
be that URL. --method GET or HEAD sends a handshake-style request (e.g. --method GET
--url '…?hub.mode=subscribe&hub.verify_token=…&hub.challenge=42' for meta); without
--secret such a request is sent unsigned, as providers send theirs. The
exit status is 0 when the gateway answers 2xx, 1 otherwise, 2 on a usage error.`,
		Example: `  hookgate send --type github --connection primary --secret "$GITHUB_WEBHOOK_SECRET" \
      --event pull_request --body '{"action":"opened","number":7,"pull_request":{"id":42}}'
  hookgate send --type incidentio --url http://localhost:8080/webhooks/incident/lead \
      --secret whsec_… --body-file incident.json --dry-run
  hookgate send --type acme --auth hmac --algorithm sha512 --encoding base64 \
      --signature-header X-Acme-Signature --timestamp-header X-Acme-Timestamp \
      --signed-content '{timestamp}.{body}' --connection acme --secret s3cr3t --body '{}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("body") && cmd.Flags().Changed("body-file") {
				return &exitError{2, fmt.Errorf("give --body or --body-file, not both")}
			}
			o.Body = []byte(body)
			if bodyFile != "" {
				var err error
				if o.Body, err = os.ReadFile(bodyFile); err != nil {
					return &exitError{2, err}
				}
			}
			if o.URL == "" {
				if conn == "" {
					return &exitError{2, fmt.Errorf("give --url, or --connection NAME (with --gateway)")}
				}
				o.URL = strings.TrimRight(gatewayURL, "/") + "/webhooks/" + o.Type + "/" + conn
			}
			if len(secrets) > 0 {
				o.Secret = secrets[0]
			}
			o.Header = http.Header{}
			for _, kv := range headers {
				k, val, ok := strings.Cut(kv, ":")
				if !ok || strings.TrimSpace(k) == "" {
					return &exitError{2, fmt.Errorf("--header %q must be 'Name: value'", kv)}
				}
				o.Header.Set(strings.TrimSpace(k), strings.TrimSpace(val))
			}
			pr, err := BuildRequest(o)
			if err != nil {
				return err
			}
			if dryRun {
				fmt.Fprintln(cmd.OutOrStdout(), curlCommand(pr))
				return nil
			}
			hreq, err := pr.HTTPRequest(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(hreq)
			if err != nil {
				return unreachable("gateway", pr.URL, "--gateway or --url", err)
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
	f.StringVar(&o.Type, "type", "", "provider type (preset), e.g. github, incidentio, linear")
	f.StringVar(&o.Auth, "auth", "", "auth type (default: the preset's)")
	f.StringVar(&o.Method, "method", http.MethodPost, "HTTP method; GET or HEAD for handshake-style requests")
	f.StringVar(&o.URL, "url", "", "full URL to send to (and, for URL-signing schemes, the URL signed)")
	f.StringVar(&gatewayURL, "gateway", firstNonEmpty(os.Getenv("HOOKGATE_GATEWAY_URL"), "http://127.0.0.1:8080"), "gateway base URL, with --connection (env HOOKGATE_GATEWAY_URL)")
	f.StringVar(&conn, "connection", "", "connection name: sends to GATEWAY/webhooks/TYPE/NAME")
	f.StringArrayVar(&secrets, "secret", nil, "signing secret (the first is used)")
	f.StringVar(&o.SignatureHeader, "signature-header", "", "signature header (default: the preset's)")
	f.StringVar(&o.TimestampHeader, "timestamp-header", "", "timestamp header (default: the preset's)")
	addHMACFlags(cmd, &o.Algorithm, &o.Encoding, &o.SignaturePrefix, &o.SignedContent)
	f.StringVar(&o.Basic, "basic", "", "USER:PASSWORD for basic auth")
	f.StringVar(&o.APIKey, "api-key", "", "API key for api_key auth")
	f.StringVar(&o.APIKeyHeader, "api-key-header", "", "API key header (default Authorization: Bearer)")
	f.StringVar(&o.Event, "event", "", "event type, sent in the preset's event header (e.g. X-GitHub-Event)")
	f.StringVar(&body, "body", "", "request body")
	f.StringVar(&bodyFile, "body-file", "", "read the body from a file")
	f.StringVar(&o.ContentType, "content-type", "", "Content-Type (default application/json; none for GET and HEAD)")
	f.StringArrayVar(&headers, "header", nil, "extra header 'Name: value' (repeatable)")
	f.BoolVar(&dryRun, "dry-run", false, "print the signed request as a curl command instead of sending it")
	_ = cmd.MarkFlagRequired("type")
	return cmd
}

// addHMACFlags declares the generic hmac scheme's settings, shared by send
// and verify (verify.Config Algorithm, Encoding, Prefix, Template).
func addHMACFlags(cmd *cobra.Command, algorithm, encoding, prefix, template *string) {
	f := cmd.Flags()
	f.StringVar(algorithm, "algorithm", "", "auth hmac: sha1, sha256 (default) or sha512")
	f.StringVar(encoding, "encoding", "", "auth hmac: hex (default) or base64")
	f.StringVar(prefix, "signature-prefix", "", "auth hmac: prefix of the signature value, e.g. sha256=")
	f.StringVar(template, "signed-content", "", "auth hmac: signed content template, e.g. '{timestamp}.{body}' (default {body}; also {method}, {url}, {header:Name})")
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
func curlCommand(p *ProviderRequest) string {
	var b strings.Builder
	if p.Method == http.MethodHead {
		b.WriteString("curl -I " + shellQuote(p.URL))
	} else {
		b.WriteString("curl -i -X " + p.Method + " " + shellQuote(p.URL))
	}
	names := make([]string, 0, len(p.Header))
	for k := range p.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range p.Header[k] {
			b.WriteString(" \\\n  -H " + shellQuote(k+": "+v))
		}
	}
	if len(p.Body) > 0 || p.Method == http.MethodPost {
		b.WriteString(" \\\n  --data-binary " + shellQuote(string(p.Body)))
	}
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
