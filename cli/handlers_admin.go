package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate"
)

// handlersAdminCommands are the subcommands of `hookgate handlers` that
// make, show and remove run-time handlers.
func handlersAdminCommands(client *adminClient) []*cobra.Command {
	var h hookgate.HandlerConfig
	var headers []string
	var secret string
	var timeout time.Duration
	var maxAttempts int
	add := &cobra.Command{
		Use:   "add NAME --url URL",
		Short: "Make an http handler at run time (stored in the database)",
		Long: `Make an http handler at run time: it POSTs each receipt to URL, signed with
Standard Webhooks headers under --signing-secret (or the top-level signing_secret
of the server's file). Its URL must be inside the server's allowed_destinations
(a listed network or host name), and every connection it makes is checked against
that list, redirects included. Other handler types need the config file.

The signing secret and header values are stored sealed and never shown again:
hookgate handlers show prints them only by fingerprint.`,
		Example: `  hookgate handlers add notify --url http://10.0.0.5:9000/hook --signing-secret "$HOOKGATE_SIGNING_SECRET"
  hookgate handlers add crm --url https://hooks.internal.example/crm --header 'Authorization: Bearer s3cret' --timeout 5s
  hookgate connections add --type github --name primary --secret "$GITHUB_WEBHOOK_SECRET" --handler notify`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h.Name = args[0]
			if h.Type == "" {
				h.Type = "http"
			}
			h.Headers = nil
			for _, kv := range headers {
				k, v, ok := strings.Cut(kv, ":")
				if !ok || strings.TrimSpace(k) == "" {
					return &exitError{2, fmt.Errorf("--header takes 'Name: value', got %q", kv)}
				}
				if h.Headers == nil {
					h.Headers = map[string]string{}
				}
				h.Headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			h.Timeout = hookgate.Duration(timeout)
			if maxAttempts > 0 {
				h.Retry = &hookgate.RetryPolicy{MaxAttempts: maxAttempts}
			}
			in := struct {
				hookgate.HandlerConfig
				SigningSecret string `json:"signing_secret,omitempty"`
			}{h, secret}
			var out map[string]any
			if err := client.do(http.MethodPost, "/api/v1/handlers", &in, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	f := add.Flags()
	f.StringVar(&h.URL, "url", "", "destination URL (inside the server's allowed_destinations)")
	f.StringVar(&h.Type, "type", "http", "handler type (only http can be made at run time)")
	f.StringArrayVar(&headers, "header", nil, "header to send, 'Name: value' (repeat for several)")
	f.StringVar(&secret, "signing-secret", "", "Standard Webhooks secret to sign with (default: the server's signing_secret)")
	f.DurationVar(&timeout, "timeout", 0, "timeout of one attempt (default 30s)")
	f.IntVar(&h.Concurrency, "concurrency", 0, "deliveries in flight at most (default dispatch.workers)")
	f.IntVar(&maxAttempts, "max-attempts", 0, "attempts before dead (default: the connection's retry policy)")
	_ = add.MarkFlagRequired("url")

	show := &cobra.Command{
		Use: "show NAME", Short: "Show one handler (secrets and header values only by fingerprint)",
		Example: "  hookgate handlers show notify", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out map[string]any
			if err := client.do(http.MethodGet, "/api/v1/handlers/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	rm := &cobra.Command{
		Use: "rm NAME", Aliases: []string{"remove", "delete"},
		Short:   "Remove a run-time handler (refused while a connection's route uses it)",
		Example: "  hookgate handlers rm notify", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := client.do(http.MethodDelete, "/api/v1/handlers/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed handler %s\n", args[0])
			return nil
		},
	}
	return []*cobra.Command{add, show, rm}
}
