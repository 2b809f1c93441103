package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate"
)

// adminClient talks to the admin API.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

func adminFlags(cmd *cobra.Command) *adminClient {
	c := &adminClient{http: &http.Client{Timeout: 30 * time.Second}}
	base := os.Getenv("HOOKGATE_ADMIN_URL")
	if base == "" {
		base = "http://127.0.0.1:8081"
	}
	cmd.PersistentFlags().StringVar(&c.base, "admin-url", base, "admin API base URL (env HOOKGATE_ADMIN_URL)")
	cmd.PersistentFlags().StringVar(&c.token, "token", os.Getenv(adminTokenEnv), "admin bearer token (env HOOKGATE_ADMIN_TOKEN)")
	return c
}

// do sends a request and decodes a JSON answer into out (if non-nil). A
// non-2xx answer becomes an error with the API's message.
func (c *adminClient) do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimRight(c.base, "/")+path, body)
	if err != nil {
		return err
	}
	if method != http.MethodGet {
		// The admin API refuses writes without it, bodiless ones (replay,
		// admit, delete) included: that is what keeps browsers out (SPEC §6).
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return unreachable("admin API", c.base, "--admin-url", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error, Message string }
		_ = json.Unmarshal(data, &e)
		return adminStatusError(resp.StatusCode, e.Error, e.Message)
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func connectionsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "connections",
		Aliases: []string{"connection", "conn"},
		Short:   "Register, list, show and remove connections (through the admin API)",
		Example: "  hookgate connections add --type github --name primary --secret \"$GITHUB_WEBHOOK_SECRET\"\n  hookgate connections list",
	}
	client := adminFlags(cmd)

	var c hookgate.Connection
	var secrets, handlers []string
	var basic, apiKey, apiKeyHeader string
	var replay int
	add := &cobra.Command{
		Use:   "add",
		Short: "Register a connection at run time (stored in the database)",
		Example: `  hookgate connections add --type github --name primary --secret "$GITHUB_WEBHOOK_SECRET" \
      --nonce-header X-GitHub-Delivery --signature-header X-Hub-Signature-256 --handler log
  hookgate connections add --type internal --name notifications --auth basic --basic user:pass`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.SigningSecrets = secrets
			if basic != "" {
				u, p, ok := strings.Cut(basic, ":")
				if !ok {
					return &exitError{2, fmt.Errorf("--basic takes USER:PASSWORD")}
				}
				c.BasicAuth = &hookgate.BasicAuth{Username: u, Password: p}
			}
			if apiKey != "" {
				c.APIKey = &hookgate.APIKey{Header: apiKeyHeader, Value: apiKey}
			}
			if cmd.Flags().Changed("replay-window") {
				c.ReplayWindowSeconds = &replay
			}
			if len(handlers) > 0 {
				c.Routes = []hookgate.Route{{Handlers: handlers}}
			}
			var out map[string]any
			if err := client.do(http.MethodPost, "/api/v1/connections", &c, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	f := add.Flags()
	f.StringVar(&c.Type, "type", "", "provider type (preset), e.g. github")
	f.StringVar(&c.Name, "name", "", "connection name, unique across types")
	f.StringVar(&c.Auth, "auth", "", "auth type (default: the preset's)")
	f.StringVar(&c.Path, "path", "", "extra path alias, e.g. /webhooks/incident/lead")
	f.StringArrayVar(&secrets, "secret", nil, "signing secret (repeat for rotation)")
	f.StringVar(&c.NonceHeader, "nonce-header", "", "delivery id header")
	f.StringVar(&c.SignatureHeader, "signature-header", "", "signature header")
	f.StringVar(&c.TimestampHeader, "timestamp-header", "", "signed timestamp header")
	f.StringVar(&c.EventType, "event-type", "", "event type source, e.g. header:X-GitHub-Event or body:type")
	f.StringVar(&c.PublicURL, "public-url", "", "URL the provider calls, for schemes that sign it (twilio, square, trello, hubspot)")
	f.StringVar(&c.Algorithm, "algorithm", "", "auth hmac: sha1, sha256 (default) or sha512")
	f.StringVar(&c.Encoding, "encoding", "", "auth hmac: hex (default) or base64")
	f.StringVar(&c.SignaturePrefix, "signature-prefix", "", `auth hmac: prefix of the signature, e.g. "sha256="`)
	f.StringVar(&c.SignedContent, "signed-content", "", "auth hmac: signed content, e.g. '{timestamp}.{body}' (default {body})")
	f.StringVar(&c.VerifyToken, "verify-token", "", "token the provider echoes in its subscription handshake (meta)")
	f.StringVar(&basic, "basic", "", "USER:PASSWORD for auth basic")
	f.StringVar(&apiKey, "api-key", "", "API key for auth api_key")
	f.StringVar(&apiKeyHeader, "api-key-header", "", "header of the API key (default Authorization: Bearer)")
	f.IntVar(&replay, "replay-window", 0, "replay window in seconds")
	f.StringArrayVar(&handlers, "handler", nil, "handler for a catch-all route (repeat for several, in order); \"log\" is built in")
	_ = add.MarkFlagRequired("type")
	_ = add.MarkFlagRequired("name")

	list := &cobra.Command{
		Use: "list", Short: "List connections", Example: "  hookgate connections list", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Connections []struct {
					Type, Name, Auth string
					Paths            []string
					ReadOnly         bool `json:"read_only"`
				}
			}
			if err := client.do(http.MethodGet, "/api/v1/connections", nil, &out); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TYPE\tNAME\tAUTH\tPATHS\tSOURCE")
			for _, c := range out.Connections {
				src := "api"
				if c.ReadOnly {
					src = "file"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Type, c.Name, c.Auth, strings.Join(c.Paths, ","), src)
			}
			return tw.Flush()
		},
	}
	show := &cobra.Command{
		Use: "show TYPE NAME", Short: "Show one connection (secrets only by id and fingerprint)",
		Example: "  hookgate connections show github primary", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out map[string]any
			if err := client.do(http.MethodGet, "/api/v1/connections/"+url.PathEscape(args[0])+"/"+url.PathEscape(args[1]), nil, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	rm := &cobra.Command{
		Use: "rm TYPE NAME", Aliases: []string{"remove", "delete"}, Short: "Remove a run-time connection (its receipts stay)",
		Example: "  hookgate connections rm github primary", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := client.do(http.MethodDelete, "/api/v1/connections/"+url.PathEscape(args[0])+"/"+url.PathEscape(args[1]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s/%s\n", args[0], args[1])
			return nil
		},
	}
	var newSecret, retire string
	rotate := &cobra.Command{
		Use:   "rotate TYPE NAME",
		Short: "Add a signing secret and/or retire one (several are active at once during a rotation)",
		Long: `Rotate a run-time connection's signing secret in two steps: add the new secret
(both verify while the provider switches over; each receipt records which one did),
then retire the old one by its id (hookgate connections show TYPE NAME lists ids).`,
		Example: `  hookgate connections rotate github primary --secret "$NEW_SECRET"
  hookgate connections rotate github primary --retire sec_1a2b3c4d`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if newSecret == "" && retire == "" {
				return &exitError{2, fmt.Errorf("give --secret to add, --retire ID to retire, or both")}
			}
			base := "/api/v1/connections/" + url.PathEscape(args[0]) + "/" + url.PathEscape(args[1]) + "/secrets"
			if newSecret != "" {
				var out map[string]any
				if err := client.do(http.MethodPost, base, map[string]string{"secret": newSecret}, &out); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added secret %v (fingerprint %v)\n", out["id"], out["fingerprint"])
			}
			if retire != "" {
				if err := client.do(http.MethodDelete, base+"/"+url.PathEscape(retire), nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "retired secret %s\n", retire)
			}
			return nil
		},
	}
	rotate.Flags().StringVar(&newSecret, "secret", "", "new signing secret to add")
	rotate.Flags().StringVar(&retire, "retire", "", "id of the secret to retire")
	cmd.AddCommand(add, list, show, rm, rotate)
	return cmd
}

func receiptsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "receipts",
		Aliases: []string{"receipt"},
		Short:   "List, show and replay receipts (through the admin API)",
		Example: "  hookgate receipts list --connection primary --status dead\n  hookgate receipts replay 0192…\n  hookgate receipts replay --filter 'connection=primary,status=dead' --dry-run",
	}
	client := adminFlags(cmd)
	var conn, status, eventType, since, until, cursor string
	var limit int
	var asJSON, idsOnly bool
	list := &cobra.Command{
		Use: "list", Short: "List receipts, newest first",
		Example: "  hookgate receipts list --status dead --limit 20\n  hookgate receipts list --json --cursor NEXT\n  hookgate receipts show $(hookgate receipts list -q --limit 1)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"connection": conn, "status": status, "event_type": eventType, "since": since, "until": until, "cursor": cursor} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit > 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			var out struct {
				Receipts []map[string]any `json:"receipts"`
				Next     string           `json:"next_cursor,omitempty"`
			}
			if err := client.do(http.MethodGet, "/api/v1/receipts?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			if idsOnly {
				for _, r := range out.Receipts {
					fmt.Fprintln(cmd.OutOrStdout(), r["id"])
				}
				return nil
			}
			if len(out.Receipts) == 0 {
				var filter []string
				for _, k := range []string{"connection", "status", "event_type", "since", "until"} {
					if v := q.Get(k); v != "" {
						filter = append(filter, k+"="+v)
					}
				}
				if len(filter) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "no receipts yet")
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "no receipts match %s\n", strings.Join(filter, " "))
				}
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tRECEIVED\tCONNECTION\tEVENT\tSTATUS\tREASON")
			for _, r := range out.Receipts {
				reason, _ := r["reason"].(string)
				fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%s\n", r["id"], r["received_at"], r["connection"], r["event_type"], r["status"], reason)
			}
			if out.Next != "" {
				fmt.Fprintf(tw, "(more: --cursor %s)\n", out.Next)
			}
			return tw.Flush()
		},
	}
	f := list.Flags()
	f.StringVar(&conn, "connection", "", "connection name")
	f.StringVar(&status, "status", "", "status, e.g. dead, rejected, acknowledged")
	f.StringVar(&eventType, "event-type", "", "event type")
	f.StringVar(&since, "since", "", "RFC 3339 time")
	f.StringVar(&until, "until", "", "RFC 3339 time")
	f.StringVar(&cursor, "cursor", "", "cursor from the previous page")
	f.IntVar(&limit, "limit", 0, "page size (1-500)")
	f.BoolVar(&asJSON, "json", false, "print the API's JSON")
	f.BoolVarP(&idsOnly, "quiet", "q", false, "print only the receipt ids, one a line")
	show := &cobra.Command{
		Use: "show ID", Short: "Show one receipt: headers, body, attempts, history",
		Example: "  hookgate receipts show 0192f0c4-…", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out map[string]any
			if err := client.do(http.MethodGet, "/api/v1/receipts/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	replay := replayCmd(client)
	admit := &cobra.Command{
		Use:   "admit ID",
		Short: "Re-verify a rejected receipt with today's secrets and, if it passes, dispatch it",
		Long: `After fixing a connection's secret, admit the deliveries it rejected: each is
verified again (as of its arrival time) and, if it passes, stored as a delivery and
dispatched. If it still fails, the verification trace says why.`,
		Example: "  hookgate receipts list --status rejected\n  hookgate receipts admit 0192f0c4-…",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out map[string]any
			if err := client.do(http.MethodPost, "/api/v1/receipts/"+url.PathEscape(args[0])+"/admit", nil, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "admitted %v (status %v)\n", out["id"], out["status"])
			return nil
		},
	}
	cmd.AddCommand(list, show, replay, admit)
	return cmd
}

func tailCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "tail",
		Short:   "Print receipt status transitions and handlers' circuit moves live",
		Example: "  hookgate tail\n  # 2026-01-02T03:04:05.000000Z primary 0192… dispatched → acknowledged\n  # 2026-01-02T03:04:06.000000Z circuit pr-notify closed → open (10 failures in a row; probe at 2026-01-02T04:04:06.000000Z)",
		Args:    cobra.NoArgs,
	}
	client := adminFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		events, err := openEvents(cmd.Context(), client)
		if err != nil {
			return err
		}
		defer events.Close()
		fmt.Fprintf(cmd.ErrOrStderr(), "watching receipt transitions at %s (Ctrl-C to stop)\n", client.base)
		sc := bufio.NewScanner(events)
		var event string
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				event = name
				continue
			}
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var t map[string]any
			if json.Unmarshal([]byte(data), &t) != nil {
				continue
			}
			if event == "handler.circuit_changed" {
				printCircuit(cmd.OutOrStdout(), t)
				continue
			}
			reason, _ := t["reason"].(string)
			from, _ := t["from"].(string)
			if from == "" {
				from = "·"
			}
			line := fmt.Sprintf("%v %v %v %s → %v", t["at"], t["connection"], t["receipt_id"], from, t["status"])
			if reason != "" {
				line += " " + reason
			}
			if next, _ := t["next_attempt_at"].(string); next != "" {
				line += " (next attempt at " + next + ")"
			}
			fmt.Fprintln(cmd.OutOrStdout(), line)
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
