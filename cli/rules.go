package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/ingress"
)

func rulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rules",
		Short:   "Work with a connection's payload rules (filters, schemas, transforms)",
		Example: "  hookgate rules test --config hookgate.yaml --connection incidentio/primary --body-file event.json --skip-verify",
	}
	cmd.AddCommand(rulesTestCmd())
	return cmd
}

// rulesTestCmd is the offline dry run of SPEC §4.4: what hookgate would do
// with one delivery, from a config file, with no server and no storage.
func rulesTestCmd() *cobra.Command {
	var (
		cfgPath, connection, body, bodyFile, target string
		headers                                     []string
		now                                         int64
		skipVerify, asJSON                          bool
	)
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Show what hookgate would do with a delivery, offline",
		Long: `Run one delivery through a connection of a config file exactly as the gateway
would — verification, envelope, event type, nonce, idempotency key, every route's
events and filter, the schemas (sync and async) and each route's transformed body —
and print the verdict. Nothing is stored or dispatched and no server is needed;
deduplication is not tried (it needs the store).

--skip-verify tries the rules on a body you have not signed. The same dry run is
served by a running gateway at POST /api/v1/connections/{type}/{name}/test.

Exit status: 0 when the delivery would be accepted (2xx) and dispatch would not
send it to dead, 1 when it would be refused or go dead, 2 on a usage or
configuration error.`,
		Example: `  hookgate rules test --config hookgate.yaml --connection incidentio/primary \
      --body '{"event_type":"public_incident.incident_updated_v2","data":{"incident_status":"triage"}}' \
      --skip-verify
  hookgate rules test --config hookgate.yaml --connection github/primary \
      --header 'X-GitHub-Event: pull_request' --header 'X-Hub-Signature-256: sha256=…' \
      --body-file delivery.json --now 1735689600 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			usage := func(err error) error { return &exitError{2, err} }
			if cmd.Flags().Changed("body") == cmd.Flags().Changed("body-file") {
				return usage(fmt.Errorf("give exactly one of --body or --body-file"))
			}
			typ, name, ok := strings.Cut(connection, "/")
			if !ok || typ == "" || name == "" {
				return usage(fmt.Errorf("--connection must be TYPE/NAME, e.g. github/primary"))
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
			if h.Get("Content-Type") == "" {
				h.Set("Content-Type", "application/json")
			}
			var u *url.URL
			if target != "" {
				var err error
				if u, err = url.Parse(target); err != nil || u.Host == "" {
					return usage(fmt.Errorf("--url must be an absolute URL"))
				}
			}
			cfg, missing, err := config.Load(cfgPath)
			if err != nil {
				return usage(err)
			}
			for _, m := range missing {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: environment variable %s is not set\n", m)
			}
			at := time.Now()
			if cmd.Flags().Changed("now") {
				at = time.Unix(now, 0)
			}
			trial, err := gateway.TryConfig(cfg, typ, name, h, payload, u, at, skipVerify)
			if err != nil {
				return usage(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(trial); err != nil {
					return err
				}
			} else {
				printTrial(out, trial)
			}
			if trial.Status >= 300 {
				return &exitError{1, fmt.Errorf("the delivery would be refused with %d %s", trial.Status, trial.Error)}
			}
			if trial.DeadReason != "" {
				return &exitError{1, fmt.Errorf("the receipt would go to dead: %s", trial.DeadReason)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "the configuration file")
	f.StringVar(&connection, "connection", "", "the connection, as TYPE/NAME")
	f.StringArrayVar(&headers, "header", nil, "request header 'Name: value' (repeatable; Content-Type defaults to application/json)")
	f.StringVar(&body, "body", "", "request body")
	f.StringVar(&bodyFile, "body-file", "", "read the request body from a file (exact bytes)")
	f.StringVar(&target, "url", "", "the URL the provider calls, for schemes that sign it (default: public_url, else the connection's path)")
	f.Int64Var(&now, "now", 0, "judge signed timestamps as of this UNIX time (default: now)")
	f.BoolVar(&skipVerify, "skip-verify", false, "do not check the signature (try the rules on an unsigned body)")
	f.BoolVar(&asJSON, "json", false, "print the verdict as JSON (the admin API's answer)")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("connection")
	return cmd
}

// printTrial writes a trial for a person to read.
func printTrial(w io.Writer, t *ingress.Trial) {
	line := func(k, v string) { fmt.Fprintf(w, "%-16s %s\n", k, v) }
	line("connection", t.ConnectionType+"/"+t.Connection)
	switch v := t.Verification; {
	case v.Skipped:
		line("verification", "skipped (--skip-verify)")
	case v.Verified:
		line("verification", "VERIFIED with secret "+firstNonEmpty(v.SecretID, "(credential)"))
	default:
		line("verification", "NOT VERIFIED: "+v.Reason+" — "+explain(v.Reason))
		if v.Trace != nil {
			printTrace(w, *v.Trace, nil)
		}
	}
	answer := fmt.Sprintf("%d", t.Status)
	if t.Error != "" {
		answer += " " + t.Error + ": " + t.Message
	}
	line("answer", answer)
	for _, e := range t.ValidationErrors {
		fmt.Fprintf(w, "  %s: %s\n", firstNonEmpty(e.Path, "/"), e.Message)
	}
	if t.Answer != nil {
		b, _ := json.Marshal(t.Answer)
		line("answer body", string(b))
	}
	if rc := t.Receipt; rc != nil {
		status := string(rc.Status)
		if rc.Reason != "" {
			status += " (" + rc.Reason + ")"
		}
		line("receipt", status)
		line("event type", rc.EventType)
		line("nonce", rc.Nonce)
		line("idempotency key", rc.IdempotencyKey)
	}
	for _, r := range t.Routes {
		events := "every event type"
		if len(r.Events) > 0 {
			events = strings.Join(r.Events, ", ")
		}
		verdict := "does not take it"
		if r.Takes {
			verdict = "TAKES it"
		}
		match := "match"
		if !r.EventsMatch {
			match = "do not match"
		}
		fmt.Fprintf(w, "route %-10d %s (events %s: %s; handlers: %s)\n", r.Route, verdict, match, events, strings.Join(r.Handlers, ", "))
		if r.Filter != nil {
			f := fmt.Sprintf("%v", r.Filter.Pass)
			if r.Filter.Error != "" {
				f += " (" + r.Filter.Error + ")"
			}
			fmt.Fprintf(w, "  filter         %s\n", f)
		}
		if r.SchemaChecked {
			if len(r.SchemaErrors) == 0 {
				fmt.Fprintf(w, "  %-14s valid\n", "schema ("+r.Validate+")")
			} else {
				fmt.Fprintf(w, "  %-14s %d errors\n", "schema ("+r.Validate+")", len(r.SchemaErrors))
				for _, e := range r.SchemaErrors {
					fmt.Fprintf(w, "    %s: %s\n", firstNonEmpty(e.Path, "/"), e.Message)
				}
			}
		}
		if r.Body != nil {
			fmt.Fprintf(w, "  transformed    %s\n", r.Body)
		}
		if r.TransformError != "" {
			fmt.Fprintf(w, "  transform      FAILED: %s\n", r.TransformError)
		}
	}
	if t.DeadReason != "" {
		line("dispatch", "DEAD: "+t.DeadReason)
	}
	for _, n := range t.Notes {
		line("note", n)
	}
}
