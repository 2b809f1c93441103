package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/ingress"
)

// TryConnection tries a delivery against a live connection (the admin API's
// POST /api/v1/connections/{type}/{name}/test), with the server's clock.
// Nothing is stored or dispatched.
func (g *Gateway) TryConnection(typ, name string, h http.Header, body []byte, u *url.URL, skipVerify bool) (*ingress.Trial, error) {
	ep, ok := g.snap.Load().byName[name]
	if !ok || ep.Conn.Type != typ {
		return nil, hookgate.Errorf(hookgate.ENotFound, "no connection %s/%s", typ, name)
	}
	return ep.Try(h, body, trialURL(ep, u), g.now(), skipVerify), nil
}

// TryConfig tries a delivery against a connection of a config file, offline
// (`hookgate rules test`): the file is compiled as `serve` compiles it,
// without storage, so a file with errors is refused with them.
func TryConfig(cfg *config.Config, typ, name string, h http.Header, body []byte, u *url.URL, now time.Time, skipVerify bool) (*ingress.Trial, error) {
	g := &Gateway{cfg: cfg, logger: slog.New(slog.DiscardHandler), now: time.Now, httpClient: http.DefaultClient}
	snap, errs := g.compile(cfg, nil)
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	ep, ok := snap.byName[name]
	if !ok || ep.Conn.Type != typ {
		return nil, hookgate.Errorf(hookgate.ENotFound, "the config file has no connection %s/%s", typ, name)
	}
	return ep.Try(h, body, trialURL(ep, u), now, skipVerify), nil
}

// trialURL is the URL a trial is verified against: the one given, else the
// connection's public_url, else its path on localhost.
func trialURL(ep *ingress.Endpoint, u *url.URL) *url.URL {
	switch {
	case u != nil:
		return u
	case ep.PublicURL != nil:
		return ep.PublicURL
	}
	return &url.URL{Scheme: "http", Host: "localhost", Path: ep.Conn.DefaultPath()}
}
