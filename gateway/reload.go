package gateway

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/hookgate/hookgate/config"
)

// Reload swaps in a new configuration file's connections, handlers, routes
// and webhooks defaults (SIGHUP, SPEC §5). It compiles the whole new file
// against the stored connections first and swaps the snapshot in one atomic
// store only if everything compiles: a bad file is refused and the running
// configuration stays in force. Requests in flight finish on the snapshot
// they started with, so none is dropped; a receipt stored for a connection
// the new file removes is kept and can be replayed once it exists again.
//
// Settings bound at start (listeners, TLS, admin, storage, dispatch workers,
// lease and poll interval, trusted_proxies, public_base_url, log) keep their
// running values; Reload names those that changed, since they need a
// restart. It returns the names, or an error when the file is refused.
func (g *Gateway) Reload(ctx context.Context, next *config.Config) (restartOnly []string, err error) {
	if errs := preflight(next); len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	stored, err := g.loadStored(ctx)
	if err != nil {
		return nil, err
	}
	snap, errs := g.compile(next, stored)
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	g.live = next
	g.swapSnapshot(snap)
	g.storeDestinations(next)
	return boundAtStart(g.cfg, next), nil
}

// boundAtStart lists the keys whose value differs between the running
// configuration and next but that take effect only at start.
func boundAtStart(running, next *config.Config) []string {
	var keys []string
	for _, f := range []struct {
		key       string
		old, next any
	}{
		{"listen", running.Listen, next.Listen},
		{"tls", running.TLS, next.TLS},
		{"public_base_url", running.PublicBaseURL, next.PublicBaseURL},
		{"trusted_proxies", running.TrustedProxies, next.TrustedProxies},
		{"admin", running.Admin, next.Admin},
		{"storage", running.Storage, next.Storage},
		{"dispatch.workers", running.Dispatch.Workers, next.Dispatch.Workers},
		{"dispatch.lease", running.Dispatch.Lease, next.Dispatch.Lease},
		{"dispatch.poll_interval", running.Dispatch.PollInterval, next.Dispatch.PollInterval},
		{"log", running.Log, next.Log},
	} {
		if !reflect.DeepEqual(f.old, f.next) {
			keys = append(keys, f.key)
		}
	}
	return keys
}
