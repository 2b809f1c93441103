package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/verify"
)

// verifyCmd is the offline check of one captured request (SPEC §7). Its exit
// status is part of the contract: 0 verifies, 1 does not, 2 usage error.
func verifyCmd() *cobra.Command {
	var (
		typ, auth, method, target, body, bodyFile, sigHeader, tsHeader string
		algorithm, encoding, prefix, template                          string
		secrets, headers                                               []string
		now                                                            int64
		window                                                         int
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Explain why a captured request does or does not verify",
		Long: `Verify one captured request offline, exactly as the gateway would, and explain
the result: the header read, the secrets tried (by id), the timestamp skew, the
signed-content recipe, and the first characters of the expected and received
signatures. Wrong secret, changed body, stale timestamp and missing header each
read differently.

Exit status: 0 when the request verifies, 1 when it does not, 2 on a usage error.
--secret may be given several times (rotation); for public-key schemes it takes the
public key; for basic auth it takes USER:PASSWORD.`,
		Example: `  hookgate verify --type github --secret "$GITHUB_WEBHOOK_SECRET" \
      --header 'X-Hub-Signature-256: sha256=757107ea…' --body 'Hello, World!'
  hookgate verify --type svix --secret whsec_… --header 'webhook-id: msg_1' \
      --header 'webhook-timestamp: 1614265330' --header 'webhook-signature: v1,…' \
      --body-file payload.json --now 1614265330
  hookgate verify --type acme --auth hmac --algorithm sha512 --encoding base64 \
      --signature-header X-Acme-Signature --timestamp-header X-Acme-Timestamp \
      --signed-content '{timestamp}.{body}' --secret s3cr3t \
      --header 'X-Acme-Timestamp: 1614265330' --header 'X-Acme-Signature: …' --body '{}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			usage := func(err error) error { return &exitError{2, err} }
			if cmd.Flags().Changed("body") == cmd.Flags().Changed("body-file") {
				return usage(fmt.Errorf("give exactly one of --body or --body-file"))
			}
			payload := []byte(body)
			if bodyFile != "" {
				var err error
				if payload, err = os.ReadFile(bodyFile); err != nil {
					return usage(err)
				}
			}
			h := http.Header{}
			for _, kv := range headers {
				k, v, ok := strings.Cut(kv, ":")
				if !ok || strings.TrimSpace(k) == "" {
					return usage(fmt.Errorf("--header %q must be 'Name: value'", kv))
				}
				h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			u, err := url.Parse(target)
			if err != nil {
				return usage(fmt.Errorf("--url: %w", err))
			}
			preset, _ := verify.LookupPreset(typ)
			cfg := verify.Config{
				Auth:                 firstNonEmpty(auth, preset.Auth),
				SignatureHeader:      firstNonEmpty(sigHeader, preset.SignatureHeader),
				TimestampHeader:      firstNonEmpty(tsHeader, preset.TimestampHeader),
				ReplayWindow:         time.Duration(window) * time.Second,
				AllowUnauthenticated: true,
				Algorithm:            algorithm,
				Encoding:             encoding,
				Prefix:               prefix,
				Template:             template,
			}
			preset.Apply(&cfg)
			if cfg.ReplayWindow == 0 {
				cfg.ReplayWindow = verify.DefaultReplayWindow
			}
			if cfg.Auth == "" {
				return usage(noPreset(typ))
			}
			switch cfg.Auth {
			case "basic":
				for _, s := range secrets {
					user, pass, ok := strings.Cut(s, ":")
					if !ok {
						return usage(fmt.Errorf("for basic auth --secret takes USER:PASSWORD"))
					}
					cfg.Basic = &hookgate.BasicAuth{Username: user, Password: pass}
				}
			case "api_key":
				if len(secrets) > 0 {
					cfg.APIKey = &hookgate.APIKey{Header: cfg.SignatureHeader, Value: secrets[0]}
				}
			default:
				for _, s := range secrets {
					cfg.Secrets = append(cfg.Secrets, verify.Secret{ID: hookgate.SecretID(s), Value: s})
				}
			}
			v, err := verify.New(cfg)
			if err != nil {
				if len(secrets) == 0 {
					// verify takes every kind of credential in --secret.
					return usage(fmt.Errorf("auth %s needs a credential: give --secret", cfg.Auth))
				}
				return usage(err)
			}
			at := time.Now()
			if cmd.Flags().Changed("now") {
				at = time.Unix(now, 0)
			}
			res, err := v.Verify(&verify.Request{Method: method, URL: u, Header: h, Body: payload, Now: at})
			out := cmd.OutOrStdout()
			if err != nil {
				f, ok := err.(*verify.Failure)
				if !ok {
					return err
				}
				fmt.Fprintf(out, "NOT VERIFIED: %s — %s\n", f.Reason, explain(f.Reason))
				printTrace(out, f.Trace, cfg.Secrets)
				return &exitError{1, fmt.Errorf("the request does not verify (%s)", f.Reason)}
			}
			fmt.Fprintf(out, "VERIFIED with secret %s\n", firstNonEmpty(res.SecretID, "(credential)"))
			printTrace(out, res.Trace, cfg.Secrets)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&typ, "type", "", "provider type (preset), e.g. github, stripe, svix")
	f.StringVar(&auth, "auth", "", "auth type (default: the preset's)")
	f.StringArrayVar(&secrets, "secret", nil, "secret to try (repeatable); a public key for public-key schemes; USER:PASSWORD for basic")
	f.StringArrayVar(&headers, "header", nil, "captured header 'Name: value' (repeatable)")
	f.StringVar(&method, "method", http.MethodPost, "captured method")
	f.StringVar(&target, "url", "http://localhost/", "the URL the provider called, for schemes that sign it")
	f.StringVar(&body, "body", "", "captured body")
	f.StringVar(&bodyFile, "body-file", "", "read the captured body from a file (exact bytes)")
	f.Int64Var(&now, "now", 0, "judge timestamps as of this UNIX time (default: now)")
	f.IntVar(&window, "replay-window", 0, "replay window in seconds (default: the preset's, as the gateway uses it, else 300)")
	f.StringVar(&sigHeader, "signature-header", "", "signature header (default: the preset's)")
	f.StringVar(&tsHeader, "timestamp-header", "", "timestamp header (default: the preset's)")
	addHMACFlags(cmd, &algorithm, &encoding, &prefix, &template)
	_ = cmd.MarkFlagRequired("type")
	return cmd
}

// explain turns a reason code into the likely cause.
func explain(reason string) string {
	switch reason {
	case verify.ReasonSignatureMissing:
		return "the signature header is missing (is the header name right? see 'header' below)"
	case verify.ReasonSignatureMismatch:
		return "a signature is present but does not match: a wrong or rotated secret, or the body changed on the way (re-serialized JSON, a proxy re-encoding it)"
	case verify.ReasonSignatureMalformed:
		return "the signature header does not parse as this scheme expects (wrong prefix or encoding?)"
	case verify.ReasonTimestampMissing:
		return "the signed timestamp header is missing"
	case verify.ReasonTimestampStale:
		return "the signed timestamp is older than the replay window: a replay, a retry long after, or a wrong clock (try --now)"
	case verify.ReasonTimestampFuture:
		return "the signed timestamp is ahead of the replay window: a clock skew between sender and receiver"
	case verify.ReasonTimestampInvalid:
		return "the timestamp header does not parse"
	case verify.ReasonCredentialsMissing:
		return "no credentials were sent"
	case verify.ReasonCredentialsInvalid:
		return "the credentials do not match"
	}
	return "verification failed"
}

func printTrace(w io.Writer, t verify.Trace, secrets []verify.Secret) {
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-17s %s\n", k+":", v)
		}
	}
	line("scheme", t.Scheme)
	line("header", t.Header)
	if len(t.SecretsTried) > 0 {
		line("secrets tried", strings.Join(t.SecretsTried, ", "))
	} else if len(secrets) > 0 {
		line("secrets tried", "none (the request failed before any secret was needed)")
	}
	line("signed content", t.Recipe)
	if t.TimestampSkewSeconds != nil {
		line("timestamp skew", strconv.FormatInt(*t.TimestampSkewSeconds, 10)+" s (now minus signed time)")
	}
	line("expected", prefixOf(t.Expected))
	line("received", prefixOf(t.Received))
	line("note", t.Note)
}

func prefixOf(s string) string {
	if s == "" {
		return ""
	}
	return s + "…"
}
