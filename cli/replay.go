package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// replayFilterKeys are the keys of --filter, as the API names them.
var replayFilterKeys = []string{"connection", "status", "event_type", "since", "until"}

// parseReplayFilter reads --filter 'connection=x,status=dead,…' into the
// API's filter fields.
func parseReplayFilter(s string, into map[string]string) error {
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k = strings.ReplaceAll(strings.TrimSpace(k), "-", "_")
		if !ok || v == "" {
			return fmt.Errorf("--filter: %q is not key=value", part)
		}
		known := false
		for _, want := range replayFilterKeys {
			known = known || k == want
		}
		if !known {
			return fmt.Errorf("--filter: unknown key %q (use %s)", k, strings.Join(replayFilterKeys, ", "))
		}
		if prev, dup := into[k]; dup && prev != v {
			return fmt.Errorf("--filter: %s is given twice (%q and %q)", k, prev, v)
		}
		into[k] = strings.TrimSpace(v)
	}
	return nil
}

// replayAnswer is the answer of POST /api/v1/receipts/replay.
type replayAnswer struct {
	Matched     int            `json:"matched"`
	WouldReplay int            `json:"would_replay"`
	Replayed    int            `json:"replayed"`
	Skipped     map[string]int `json:"skipped"`
	Until       string         `json:"until"`
	NextCursor  string         `json:"next_cursor"`
	Note        string         `json:"note"`
}

func describeSkipped(skipped map[string]int) string {
	var parts []string
	for reason, n := range skipped {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ReplaceAll(reason, "_", " ")))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// replayCmd is `hookgate receipts replay`: one receipt by id, or every
// receipt a filter selects.
func replayCmd(client *adminClient) *cobra.Command {
	var filter string
	var dryRun bool
	flags := map[string]*string{}
	cmd := &cobra.Command{
		Use:   "replay [ID]",
		Short: "Dispatch a receipt, or every receipt a filter selects, again (a new round of attempts)",
		Long: `With an ID, replays that receipt. With a filter (--filter or the separate flags),
replays every receipt it selects: first it counts them, then it replays them a page
(500) at a time, showing its progress. --dry-run only counts. The filter is the one
of "receipts list": connection, status, event type, and a time range (RFC 3339,
since inclusive, until exclusive). Receipts arriving while it runs are not part of
the set.

Replayed receipts go through the dispatcher like new ones: handler concurrency,
rate limits, circuits and ordering keys apply. Rejected receipts are never replayed
(their delivery failed verification); use "receipts admit" for those. Duplicate and
handshake receipts are skipped too, as are receipts being delivered at that moment.`,
		Example: `  hookgate receipts replay 0192f0c4-…
  hookgate receipts replay --filter 'connection=primary,status=dead' --dry-run
  hookgate receipts replay --filter 'connection=primary,status=dead,since=2026-01-02T00:00:00Z'
  hookgate receipts replay --connection stripe --event-type invoice.paid --status dead`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := map[string]string{}
			if err := parseReplayFilter(filter, f); err != nil {
				return &exitError{code: 2, err: err}
			}
			for k, v := range flags {
				if *v == "" {
					continue
				}
				if prev, dup := f[k]; dup && prev != *v {
					return &exitError{code: 2, err: fmt.Errorf("%s is given in --filter (%q) and as --%s (%q)", k, prev,
						strings.ReplaceAll(k, "_", "-"), *v)}
				}
				f[k] = *v
			}
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				if len(f) > 0 || dryRun {
					return &exitError{code: 2, err: fmt.Errorf("give a receipt ID or a filter, not both")}
				}
				var ans map[string]any
				if err := client.do(http.MethodPost, "/api/v1/receipts/"+url.PathEscape(args[0])+"/replay", nil, &ans); err != nil {
					return err
				}
				fmt.Fprintf(out, "replaying %v (status %v)\n", ans["id"], ans["status"])
				return nil
			}
			if len(f) == 0 {
				return &exitError{code: 2, err: fmt.Errorf("give a receipt ID, or a filter: --filter 'connection=NAME,status=dead' or --connection, --status, --event-type, --since, --until")}
			}
			return bulkReplay(client, out, f, dryRun)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&filter, "filter", "", "filter as key=value pairs joined by commas: connection, status, event_type, since, until")
	for _, k := range replayFilterKeys {
		v := new(string)
		flags[k] = v
		usage := map[string]string{"connection": "connection name", "status": "status, e.g. dead, acknowledged, filtered",
			"event_type": "event type", "since": "RFC 3339 time (inclusive)", "until": "RFC 3339 time (exclusive)"}[k]
		fl.StringVar(v, strings.ReplaceAll(k, "_", "-"), "", usage)
	}
	fl.BoolVar(&dryRun, "dry-run", false, "only count the receipts that would be replayed")
	return cmd
}

// bulkReplay counts what filter selects, then (unless dryRun) replays it a
// page at a time, printing its progress.
func bulkReplay(client *adminClient, out io.Writer, filter map[string]string, dryRun bool) error {
	body := map[string]any{"dry_run": true}
	for k, v := range filter {
		body[k] = v
	}
	var count replayAnswer
	if err := client.do(http.MethodPost, "/api/v1/receipts/replay", body, &count); err != nil {
		return err
	}
	summary := fmt.Sprintf("%d receipts match", count.Matched)
	if s := describeSkipped(count.Skipped); s != "" {
		summary += "; not replayed: " + s
	}
	if dryRun {
		fmt.Fprintf(out, "would replay %d receipts (%s)\n", count.WouldReplay, summary)
		if count.Note != "" {
			fmt.Fprintln(out, count.Note)
		}
		return nil
	}
	fmt.Fprintf(out, "replaying %d receipts (%s)\n", count.WouldReplay, summary)
	if count.WouldReplay == 0 {
		return nil
	}
	// The count fixed the set: nothing that arrives after it.
	body["dry_run"] = false
	if count.Until != "" {
		body["until"] = count.Until
	}
	replayed, skipped := 0, map[string]int{}
	for {
		var page replayAnswer
		if err := client.do(http.MethodPost, "/api/v1/receipts/replay", body, &page); err != nil {
			return fmt.Errorf("after %d of %d replayed: %w", replayed, count.WouldReplay, err)
		}
		replayed += page.Replayed
		for k, n := range page.Skipped {
			skipped[k] += n
		}
		fmt.Fprintf(out, "replayed %d/%d\n", replayed, count.WouldReplay)
		if page.NextCursor == "" {
			break
		}
		body["cursor"] = page.NextCursor
	}
	done := fmt.Sprintf("done: %d receipts replayed", replayed)
	if s := describeSkipped(skipped); s != "" {
		done += "; not replayed: " + s
	}
	fmt.Fprintln(out, done)
	if count.Note != "" {
		fmt.Fprintln(out, count.Note)
	}
	return nil
}
