package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/handler/httpsend"
	"github.com/hookgate/hookgate/store"
)

// Check runs every check that New and Listen run on a configuration before
// the gateway binds, without storage: `hookgate config check` calls it, so
// a file it passes is a file serve accepts (stored connections aside, which
// only the database knows).
func Check(cfg *config.Config) error {
	errs := preflight(cfg)
	g := &Gateway{cfg: cfg, logger: slog.New(slog.DiscardHandler), now: time.Now, httpClient: http.DefaultClient}
	if d, err := httpsend.ParseDestinations(cfg.AllowedDestinations); err == nil {
		g.dest.Store(d)
	}
	_, compileErrs := g.compile(cfg, storedConfig{})
	return errors.Join(append(errs, compileErrs...)...)
}

// preflight holds the server-wide checks that need neither storage nor a
// compiled snapshot. New runs it before opening storage; Check runs it too.
func preflight(cfg *config.Config) []error {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := checkAdmin(cfg); err != nil {
		errs = append(errs, err)
	}
	if u, err := cfg.Storage.OpenURL(); err != nil {
		errs = append(errs, err)
	} else if err := store.CheckURL(u); err != nil {
		errs = append(errs, fmt.Errorf("storage.url: %w", err))
	} else if err := store.CheckKey(u, storeOptions(cfg)); err != nil {
		errs = append(errs, err)
	}
	if _, err := loadCertificate(cfg.TLS); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := network(cfg); err != nil {
		errs = append(errs, err)
	}
	if _, err := httpsend.ParseDestinations(cfg.AllowedDestinations); err != nil {
		errs = append(errs, err)
	}
	if !cfg.UnsignedForwarding && cfg.SigningSecret == "" {
		for _, h := range cfg.Handlers {
			if h.Type == "http" && h.SigningSecret == "" {
				errs = append(errs, fmt.Errorf("handler %q would forward requests unsigned: set signing_secret at the top level "+
					"or on the handler (if it is ${ENV}, is the variable set?), or set unsigned_forwarding: true to forward unsigned on purpose", h.Name))
			}
		}
	}
	return errs
}

// checkAdmin refuses an admin listener reachable from other hosts without a
// token: the admin API can read every stored body.
func checkAdmin(cfg *config.Config) error {
	if cfg.Admin.Token == "" && !loopbackOnly(cfg.Admin.Listen) {
		return fmt.Errorf("admin.listen %q is not loopback-only: set admin.token or HOOKGATE_ADMIN_TOKEN", cfg.Admin.Listen)
	}
	return nil
}
