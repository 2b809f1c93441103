package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// handlerJSON is a handler as GET /api/v1/handlers answers it.
type handlerJSON struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Circuit struct {
		State               string  `json:"state"`
		ConsecutiveFailures int     `json:"consecutive_failures"`
		OpenedAt            *string `json:"opened_at"`
		RetryAt             *string `json:"retry_at"`
	} `json:"circuit"`
}

func handlersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "handlers",
		Aliases: []string{"handler"},
		Short:   "List handlers with their circuit breakers, close a circuit by hand, and make, show and remove handlers at run time (through the admin API)",
		Example: "  hookgate handlers list\n  hookgate handlers reset pr-notify\n  hookgate handlers add notify --url http://10.0.0.5:9000/hook --signing-secret \"$HOOKGATE_SIGNING_SECRET\"\n  hookgate handlers rm notify",
	}
	client := adminFlags(cmd)
	cmd.AddCommand(handlersAdminCommands(client)...)
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List handlers: type, circuit state, failures in a row, and when an open circuit lets a probe through",
		Example: `  hookgate handlers list
  # NAME       TYPE  CIRCUIT  FAILURES  OPENED                       RETRY
  # pr-notify  http  open     10        2026-01-02T03:04:05.000000Z  2026-01-02T04:04:05.000000Z
  hookgate handlers list --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Handlers []handlerJSON `json:"handlers"`
			}
			if err := client.do(http.MethodGet, "/api/v1/handlers", nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTYPE\tCIRCUIT\tFAILURES\tOPENED\tRETRY")
			for _, h := range out.Handlers {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", h.Name, h.Type, h.Circuit.State, h.Circuit.ConsecutiveFailures,
					orDash(h.Circuit.OpenedAt), orDash(h.Circuit.RetryAt))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	reset := &cobra.Command{
		Use:   "reset NAME",
		Short: "Close a handler's circuit by hand; the receipts waiting for it are dispatched at once",
		Long: `Close a handler's circuit breaker without waiting for its half-open probe, e.g.
once you know the destination is back. The receipts that waited for the circuit
are due at once; the failure count starts again from zero.`,
		Example: "  hookgate handlers reset pr-notify",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out handlerJSON
			if err := client.do(http.MethodPost, "/api/v1/handlers/"+url.PathEscape(args[0])+"/reset", nil, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "circuit of %s is %s\n", out.Name, out.Circuit.State)
			return nil
		},
	}
	cmd.AddCommand(list, reset)
	return cmd
}

func orDash(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

// printCircuit prints a handler.circuit_changed event of the live stream.
func printCircuit(w io.Writer, c map[string]any) {
	line := fmt.Sprintf("%v circuit %v %v → %v", c["at"], c["handler"], c["from"], c["state"])
	if c["state"] == "open" {
		line += fmt.Sprintf(" (%v failures in a row; probe at %v)", c["consecutive_failures"], c["retry_at"])
	}
	fmt.Fprintln(w, line)
}
