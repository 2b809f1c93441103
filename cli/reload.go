package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookgate/hookgate/gateway"
)

// notifyHangup starts catching SIGHUP, before the gateway starts, so that a
// reload sent early never kills the process with the signal's default action.
func notifyHangup() chan os.Signal {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	return c
}

// reloadOnHangup reloads the configuration file and the TLS certificate on
// each SIGHUP until ctx ends. It is the one place serve handles SIGHUP.
func reloadOnHangup(ctx context.Context, hangups <-chan os.Signal, gw *gateway.Gateway, path string, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hangups:
			reloadFile(ctx, gw, path, logger)
			// The certificate files are read again even when the file
			// did not change: renewing a certificate replaces only them.
			// A pair that does not load is logged; the old one stays.
			_ = gw.ReloadTLS()
		}
	}
}

// reloadFile reads path and swaps it in, or logs why it was refused; the
// running configuration stays in force on any error.
func reloadFile(ctx context.Context, gw *gateway.Gateway, path string, logger *slog.Logger) {
	if path == "" {
		logger.Warn("SIGHUP: no configuration file to reload (serve runs without --config)")
		return
	}
	cfg, missing, err := loadConfig(path)
	if err == nil && len(missing) > 0 {
		logger.Warn("config refers to unset environment variables", "file", path, "names", missing)
	}
	var restartOnly []string
	if err == nil {
		restartOnly, err = gw.Reload(ctx, cfg)
	}
	if err != nil {
		logger.Error("config reload refused; the running configuration stays in force", "file", path, "err", err)
		return
	}
	logger.Info("config reloaded", "file", path, "connections", len(cfg.Connections), "handlers", len(cfg.Handlers))
	if len(restartOnly) > 0 {
		logger.Warn("config keys changed that take effect only after a restart; running with the old values", "keys", restartOnly)
	}
}
