// Package cli is the hookgate command line (SPEC §7). main only calls Run.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	neturl "net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/store"
)

// Version is set at build time with -ldflags "-X github.com/hookgate/hookgate/cli.Version=…".
var Version = ""

// exitError carries an exit status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// Run executes the command line and returns the process exit status.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "hookgate:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if strings.Contains(err.Error(), "unknown flag") || strings.Contains(err.Error(), "unknown command") ||
		strings.Contains(err.Error(), "accepts ") || strings.Contains(err.Error(), "required flag") {
		return 2
	}
	return 1
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "hookgate",
		Short: "hookgate — a self-hosted gateway for inbound webhooks",
		Long: `hookgate verifies inbound webhooks with each provider's scheme, stores every
accepted delivery durably before answering 2xx, and dispatches it to your handlers
with retries, dead-lettering and replay.`,
		Example:       "  hookgate serve --config hookgate.yaml\n  hookgate receipts list --status dead",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.Version = BuildVersion()
	root.SetVersionTemplate("hookgate {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCmd(), migrateCmd(), versionCmd(), configCmd(),
		connectionsCmd(), receiptsCmd(), sendCmd(), verifyCmd(), tailCmd(), listenCmd(), benchCmd(), backupCmd(), secretsCmd(),
		handlersCmd())
	root.AddCommand(rulesCmd())
	root.AddCommand(backfillCmd())
	return root
}

// adminTokenEnv is the admin bearer token of serve and of the admin commands.
const adminTokenEnv = "HOOKGATE_ADMIN_TOKEN"

// loadConfig reads path (the defaults when it is empty), with the settings
// that come from the environment, and returns the names of unset
// environment variables it refers to, for the caller to log in the
// configured format.
func loadConfig(path string) (*config.Config, []string, error) {
	cfg := config.Default()
	var missing []string
	if path != "" {
		var err error
		if cfg, missing, err = config.Load(path); err != nil {
			return nil, nil, err
		}
	}
	// The environment wins over the file, as a flag would: the CLI's admin
	// commands read the same variable, so one export serves both ends.
	// (Read here, not in package config, so an embedding program's config
	// does not change with the environment of whoever runs it.)
	if tok := os.Getenv(adminTokenEnv); tok != "" {
		cfg.Admin.Token = tok
	}
	// The key that seals stored secrets comes from the environment only,
	// never from the file it would sit next to (SPEC §9).
	cfg.Storage.SecretKey = os.Getenv("HOOKGATE_SECRET_KEY")
	return cfg, missing, nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// defaultMemoryLimit is serve's soft Go heap limit when GOMEMLIMIT is unset:
// with 64 connections sending 1 MiB bodies, peak RSS stays under 200 MiB
// (257 MiB without it), at no measurable cost in throughput.
const defaultMemoryLimit = 128 << 20

func serveCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway (ingress, dispatch, admin API)",
		Long: `Run the gateway. Without --config it runs on defaults: ingress on :8080, admin
API on 127.0.0.1:8081, SQLite file hookgate.db in the working directory, and no
connections until some are registered (hookgate connections add).

Connection secrets stored in the database are sealed (AES-256-GCM) under the key
in HOOKGATE_SECRET_KEY (base64 or hex of 32 bytes) or in storage.secret_key_file;
for SQLite that file defaults to hookgate.key beside the database, created 0600 on
first start. PostgreSQL needs one of the two, the same on every instance.

The Go heap gets a soft limit of 128 MiB unless GOMEMLIMIT is set: request bodies
(up to max_payload_bytes each, limits.inflight_body_bytes in all) are short-lived,
and without a limit the garbage collector lets them pile up to twice the live heap.

HOOKGATE_ADMIN_TOKEN, when set, is the admin bearer token (it wins over
admin.token). SIGHUP reloads tls.cert_file and tls.key_file: new connections get
the new certificate, open ones keep theirs, and a pair that does not load is
logged and ignored.`,
		Example: "  hookgate serve\n  HOOKGATE_ADMIN_TOKEN=s3cret hookgate serve --config hookgate.yaml\n  GOMEMLIMIT=512MiB hookgate serve --config hookgate.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(defaultMemoryLimit)
			}
			cfg, missing, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			logger := newLogger(cfg, cmd.ErrOrStderr())
			// Storage's background work (the SQLite checkpointer) logs
			// through the default logger: give it the configured format.
			slog.SetDefault(logger)
			if len(missing) > 0 {
				logger.Warn("config refers to unset environment variables", "names", missing)
			}
			signalled, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// The gateway stops when ctx ends: after the hint is logged,
			// so the log reads in order.
			ctx, shutDown := context.WithCancel(cmd.Context())
			defer shutDown()
			go func() {
				<-signalled.Done()
				// Back to the default action: a second Ctrl-C (or
				// SIGTERM) ends the process at once.
				stop()
				if cmd.Context().Err() == nil {
					logger.Info("shutting down: requests and dispatch in flight finish first; press Ctrl-C again to exit at once")
				}
				shutDown()
			}()
			hangups := notifyHangup()
			defer signal.Stop(hangups)
			gw, err := gateway.New(ctx, cfg, gateway.Options{Logger: logger})
			if err != nil {
				return err
			}
			defer gw.Close()
			go reloadOnHangup(ctx, hangups, gw, cfgPath, logger)
			ls, err := gw.Listen()
			if err != nil {
				return err
			}
			return gw.Serve(ctx, ls)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", os.Getenv("HOOKGATE_CONFIG"), "YAML configuration file (env HOOKGATE_CONFIG)")
	return cmd
}

func migrateCmd() *cobra.Command {
	var cfgPath, url string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the database schema, then exit",
		Long: `Create or upgrade the database schema, then exit, saying which migrations it
applied. With a secret key (the key file of the config, next to the SQLite file by
default, or HOOKGATE_SECRET_KEY) it also seals every connection secret an older
version stored in clear.`,
		Example: "  hookgate migrate --storage-url postgres://hookgate@db:5432/hookgate\n  hookgate migrate --storage-url 'postgres://app@db:5432/shared?search_path=hookgate'\n  hookgate migrate --config hookgate.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			if url == "" {
				if url, err = cfg.Storage.OpenURL(); err != nil {
					return err
				}
			}
			// Open applies pending migrations; it says which.
			db, err := store.OpenWith(cmd.Context(), url, store.Options{
				SecretKey:     cfg.Storage.SecretKey,
				SecretKeyFile: cfg.Storage.SecretKeyFile,
			})
			if err != nil {
				return err
			}
			defer db.Close()
			applied, version := db.Migrations()
			if len(applied) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "schema is up to date (version %d); nothing applied\n", version)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "applied %d migrations: %s; schema is now at version %d\n",
				len(applied), strings.Join(applied, ", "), version)
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", os.Getenv("HOOKGATE_CONFIG"), "configuration file whose storage.url to migrate")
	cmd.Flags().StringVar(&url, "storage-url", "", "storage URL (overrides --config)")
	return cmd
}

func backupCmd() *cobra.Command {
	var cfgPath, url string
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Copy the SQLite database to FILE while hookgate runs (online backup)",
		Long: `Write a consistent copy of the SQLite database to FILE (which must not exist), while
hookgate keeps serving: SQLite's VACUUM INTO reads one snapshot, so deliveries
acknowledged after the backup began are not in it. FILE is created with mode 0600
and has no -wal file beside it. To restore, stop hookgate, replace the database
file with the backup (and remove its -wal and -shm files), and start hookgate.

PostgreSQL is backed up with pg_dump; see docs/operations.md.`,
		Example: "  hookgate backup /var/backups/hookgate-$(date +%F).db\n  hookgate backup --config /etc/hookgate/hookgate.yaml backup.db",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if url == "" {
				cfg, _, err := loadConfig(cfgPath)
				if err != nil {
					return err
				}
				url = cfg.Storage.URL
			}
			if err := store.Backup(cmd.Context(), url, args[0]); err != nil {
				return err
			}
			if st, err := os.Stat(args[0]); err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "backed up %s to %s (%d bytes)\n", redactURL(url), args[0], st.Size())
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", os.Getenv("HOOKGATE_CONFIG"), "configuration file whose storage.url to back up")
	cmd.Flags().StringVar(&url, "storage-url", "", "storage URL (overrides --config), e.g. sqlite:///var/lib/hookgate/hookgate.db")
	return cmd
}

// redactURL hides a password in a storage URL.
func redactURL(u string) string {
	if parsed, err := neturl.Parse(u); err == nil {
		return parsed.Redacted()
	}
	return "(storage url)"
}

// BuildVersion names the build: the version stamped with -ldflags, else
// the module version (go install …@v1.2.3), else the VCS revision and
// commit time Go records when it builds inside a checkout, with "dirty"
// when the tree had uncommitted changes.
func BuildVersion() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (built without module information)"
	}
	return describeBuild(bi)
}

func describeBuild(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, at string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel (no VCS information: built outside a checkout, or with -buildvcs=false)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := "devel " + rev
	if at != "" {
		v += " " + at
	}
	if dirty {
		v += " dirty"
	}
	return v
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Example: "  hookgate version",
		Args:    cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "hookgate", BuildVersion())
		},
	}
}

func configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with configuration files", Example: "  hookgate config check hookgate.yaml"}
	cmd.AddCommand(&cobra.Command{
		Use:     "check FILE",
		Short:   "Validate a configuration file without starting (unknown keys, missing secrets, unknown handlers)",
		Example: "  hookgate config check hookgate.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, missing, err := config.Load(args[0])
			if err != nil {
				return err
			}
			cfg.Storage.SecretKey = os.Getenv("HOOKGATE_SECRET_KEY")
			for _, m := range missing {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: environment variable %s is not set\n", m)
			}
			if err := gateway.Check(cfg); err != nil {
				return fmt.Errorf("%s is invalid:\n%w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is valid: %d connections, %d handlers\n", args[0], len(cfg.Connections), len(cfg.Handlers))
			return nil
		},
	})
	return cmd
}
