package gateway

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hookgate/hookgate/admin"
	"github.com/hookgate/hookgate/admin/dashboard"
)

// Slow-client bounds of the public listener (SPEC §9).
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	shutdownGrace     = 20 * time.Second
)

// Listeners are bound sockets, so callers (and tests) can use port 0 and
// learn the address before serving.
type Listeners struct {
	Public net.Listener
	Admin  net.Listener
}

// Listen binds the public and admin addresses of the config. It refuses a
// non-loopback admin listener without a token.
func (g *Gateway) Listen() (*Listeners, error) {
	if err := checkAdmin(g.cfg); err != nil {
		return nil, err
	}
	pub, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", g.cfg.Listen, err)
	}
	adm, err := net.Listen("tcp", g.cfg.Admin.Listen)
	if err != nil {
		pub.Close()
		return nil, fmt.Errorf("admin listen %s: %w", g.cfg.Admin.Listen, err)
	}
	return &Listeners{Public: pub, Admin: adm}, nil
}

func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve runs ingress, admin API, dispatcher and maintenance (not the last
// two with Options.NoDispatch) until ctx is cancelled, then shuts down gracefully: listeners stop accepting, requests
// in flight finish, dispatch in flight completes.
func (g *Gateway) Serve(ctx context.Context, ls *Listeners) error {
	// The connection limit counts the public listener's connections.
	ls = &Listeners{Public: g.ingress.Limits.Listener(ls.Public), Admin: ls.Admin}
	pub := &http.Server{
		Handler:           g.Ingress(),
		ConnContext:       g.ingress.Limits.ConnContext,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(serverLog{g.logger}, "", 0),
	}
	if g.cert != nil {
		pub.TLSConfig = g.cert.serverTLS()
	}
	// Shutdown waits for every admin handler, and an event stream lasts
	// as long as its client: streams end when shutdown begins.
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	adm := &http.Server{Handler: endStreamsWith(streams, g.AdminHandler()), ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 3)
	go func() {
		var err error
		if g.cert != nil {
			err = pub.ServeTLS(ls.Public, "", "") // the certificate comes from TLSConfig.GetCertificate
		} else {
			err = pub.Serve(ls.Public)
		}
		errc <- fmt.Errorf("public listener: %w", err)
	}()
	go func() { errc <- fmt.Errorf("admin listener: %w", adm.Serve(ls.Admin)) }()
	dispatchDone := make(chan error, 1)
	if g.noDispatch {
		go func() { g.refreshLoop(runCtx); dispatchDone <- nil }()
	} else {
		go func() { dispatchDone <- g.Run(runCtx) }()
	}
	g.logger.Info("hookgate serving", "listen", ls.Public.Addr().String(), "admin", ls.Admin.Addr().String(),
		"storage", redactStorageURL(g.cfg.Storage.URL), "connections", len(g.snap.Load().byName))

	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	// Ingress first: requests in flight still commit and get their answer.
	_ = pub.Shutdown(shutCtx)
	endStreams()
	_ = adm.Shutdown(shutCtx)
	stop()
	<-dispatchDone
	if first != nil && !errors.Is(first, http.ErrServerClosed) {
		return first
	}
	g.logger.Info("hookgate stopped")
	return nil
}

// AdminHandler returns the admin API of SPEC §6 as configured: the token
// (admin.token or HOOKGATE_ADMIN_TOKEN), and the host names it answers to
// (admin.allowed_hosts, plus admin.listen's host when that is a name), with
// the dashboard at /.
func (g *Gateway) AdminHandler() http.Handler {
	hosts := slices.Clone(g.cfg.Admin.AllowedHosts)
	if host, _, err := net.SplitHostPort(g.cfg.Admin.Listen); err == nil && host != "" && net.ParseIP(host) == nil {
		hosts = append(hosts, host)
	}
	api := &admin.API{GW: g, Token: g.cfg.Admin.Token, Logger: g.logger, AllowedHosts: hosts}
	api.Browser = dashboard.New(dashboard.Options{GW: g, Token: g.cfg.Admin.Token, Logger: g.logger, Now: g.now})
	return api.Routes()
}

// serverLog carries net/http's own log lines for the public listener to the
// logger. Two kinds can be caused by anyone on the internet, once per
// connection or request: a failed TLS handshake (scanners, clients that
// dislike the certificate) and a query with ";". They go to debug level, so
// they cannot flood the log; anything else (a handler panic) is an error.
type serverLog struct{ logger *slog.Logger }

func (s serverLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelError
	if strings.HasPrefix(msg, "http: TLS handshake error") || strings.HasPrefix(msg, "http: URL query contains semicolon") {
		level = slog.LevelDebug
	}
	s.logger.Log(context.Background(), level, "public listener", "err", msg)
	return len(p), nil
}

// endStreamsWith ends the admin API's event streams (GET /api/v1/events)
// when streams is cancelled; other admin requests finish as usual.
func endStreamsWith(streams context.Context, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/events" {
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			defer context.AfterFunc(streams, cancel)()
			r = r.WithContext(ctx)
		}
		h.ServeHTTP(w, r)
	})
}

// redactStorageURL hides a password in a storage URL for logs.
func redactStorageURL(u string) string {
	if parsed, err := url.Parse(u); err == nil {
		return parsed.Redacted()
	}
	return "(unparsable storage url)"
}
