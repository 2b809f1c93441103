package cli

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

func secretsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "secrets",
		Short:   "Manage the key that seals stored secrets",
		Example: "  hookgate secrets rotate-key",
	}
	client := adminFlags(cmd)
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate-key",
		Short: "Replace the key that seals stored connection secrets, and re-seal them all",
		Long: `Replace the key that seals the connection secrets stored in the database
(SPEC §9) with a new random one, and re-seal every stored connection under it.

The running server does the rotation, through its admin API, so that it goes on
opening what it stores without a restart. It writes the new key into the key
file next to the old one first, re-seals every row in one transaction, and only
then drops the old key from the file: a crash at any point loses nothing (the
next start re-seals whatever the old key still seals).

A key given as HOOKGATE_SECRET_KEY cannot be rotated this way: set
HOOKGATE_SECRET_KEY="NEW,OLD" on every instance and restart them (each re-seals
under NEW at start), then set HOOKGATE_SECRET_KEY="NEW" and restart again.
Fingerprints shown for secrets change with the key.`,
		Example: "  hookgate secrets rotate-key\n  hookgate secrets rotate-key --admin-url http://127.0.0.1:8081 --token \"$HOOKGATE_ADMIN_TOKEN\"",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				KeyID    string `json:"key_id"`
				Resealed int    `json:"resealed"`
			}
			if err := client.do(http.MethodPost, "/api/v1/secrets/rotate-key", struct{}{}, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rotated to key %s: re-sealed %d stored connections\n", out.KeyID, out.Resealed)
			return nil
		},
	})
	return cmd
}
