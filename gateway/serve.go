package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/hookgate/hookgate/admin"
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
	pub := &http.Server{
		Handler:           g.Ingress(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	api := &admin.API{GW: g, Token: g.cfg.Admin.Token, Logger: g.logger}
	// Shutdown waits for every admin handler, and an event stream lasts
	// as long as its client: streams end when shutdown begins.
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	adm := &http.Server{Handler: endStreamsWith(streams, api.Routes()), ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 3)
	go func() {
		var err error
		if t := g.cfg.TLS; t != nil {
			err = pub.ServeTLS(ls.Public, t.CertFile, t.KeyFile)
		} else {
			err = pub.Serve(ls.Public)
		}
		errc <- fmt.Errorf("public listener: %w", err)
	}()
	go func() { errc <- fmt.Errorf("admin listener: %w", adm.Serve(ls.Admin)) }()
	dispatchDone := make(chan error, 1)
	if g.noDispatch {
		dispatchDone <- nil
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
