package cli

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// backfillAnswer is the answer of POST /api/v1/backfill.
type backfillAnswer struct {
	Connection string `json:"connection"`
	Provider   string `json:"provider"`
	Since      string `json:"since"`
	DryRun     bool   `json:"dry_run"`
	Listed     int    `json:"listed"`
	Missing    []struct {
		Nonce      string `json:"nonce"`
		EventType  string `json:"event_type"`
		At         string `json:"at"`
		StatusCode int    `json:"status_code"`
		Failed     bool   `json:"failed"`
	} `json:"missing"`
	Recovered  int      `json:"recovered"`
	Duplicates int      `json:"duplicates"`
	Errors     []string `json:"errors"`
}

// backfillCmd is `hookgate backfill`: one backfill run of a connection,
// through the admin API of the running server (which holds the API token,
// the store and the ingress the recovered deliveries go through).
func backfillCmd() *cobra.Command {
	var (
		connection, since string
		dryRun, asJSON    bool
		c                 *adminClient
	)
	cmd := &cobra.Command{
		Use:   "backfill --connection NAME --since TIME",
		Short: "Recover what the provider sent but hookgate never stored, from the provider's API (through the admin API)",
		Long: `Lists what the connection's provider sent since TIME (GitHub: the hook's deliveries;
Stripe: the account's events), compares it with the stored receipts, and recovers what is
missing: GitHub is asked to redeliver (the redelivery arrives signed through ingress),
Stripe events are stored as receipts marked source=backfill. --dry-run only prints what
is missing. The connection needs a backfill section in the config file.

TIME is an RFC 3339 time or a duration back from now (24h, 90m).`,
		Example: `  hookgate backfill --connection primary --since 24h --dry-run
  hookgate backfill --connection payments --since 2026-01-02T00:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if connection == "" || since == "" {
				return &exitError{code: 2, err: fmt.Errorf("--connection and --since are required")}
			}
			at, err := parseSince(since, time.Now())
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			var ans backfillAnswer
			raw := map[string]any{}
			in := map[string]any{"connection": connection, "since": at.UTC().Format(time.RFC3339Nano), "dry_run": dryRun}
			if asJSON {
				if err := c.do(http.MethodPost, "/api/v1/backfill", in, &raw); err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), raw)
			}
			if err := c.do(http.MethodPost, "/api/v1/backfill", in, &ans); err != nil {
				return err
			}
			printBackfill(cmd.OutOrStdout(), &ans)
			if len(ans.Errors) > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d item(s) could not be recovered", len(ans.Errors))}
			}
			return nil
		},
	}
	c = adminFlags(cmd)
	// A run waits out the provider's rate limits: no client timeout.
	c.http.Timeout = 0
	fl := cmd.Flags()
	fl.StringVar(&connection, "connection", "", "connection name")
	fl.StringVar(&since, "since", "", "RFC 3339 time, or a duration back from now (24h)")
	fl.BoolVar(&dryRun, "dry-run", false, "only print what is missing")
	fl.BoolVar(&asJSON, "json", false, "print the API's answer as JSON")
	return cmd
}

// parseSince reads an RFC 3339 time or a duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("--since %q: want an RFC 3339 time or a positive duration such as 24h", s)
	}
	return now.Add(-d), nil
}

func printBackfill(w io.Writer, a *backfillAnswer) {
	fmt.Fprintf(w, "%s (%s) since %s: the provider lists %d, hookgate lacks %d\n", a.Connection, a.Provider, a.Since, a.Listed, len(a.Missing))
	for _, m := range a.Missing {
		state := "missing"
		if m.Failed {
			state = "failed at the provider"
		}
		if m.StatusCode != 0 {
			state += fmt.Sprintf(" (last answer %d)", m.StatusCode)
		}
		fmt.Fprintf(w, "  %s  %-40s  %s  %s\n", m.At, m.Nonce, m.EventType, state)
	}
	switch {
	case a.DryRun:
		fmt.Fprintln(w, "dry run: nothing recovered")
	case a.Provider == "github":
		fmt.Fprintf(w, "redelivery requested for %d; they arrive signed through ingress\n", a.Recovered)
	default:
		fmt.Fprintf(w, "recovered %d as receipts marked source=backfill; %d had arrived meanwhile (stored as duplicates)\n", a.Recovered, a.Duplicates)
	}
	for _, e := range a.Errors {
		fmt.Fprintf(w, "  error: %s\n", strings.TrimSpace(e))
	}
}
