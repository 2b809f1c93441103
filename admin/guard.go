package admin

import (
	"crypto/subtle"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookgate/hookgate"
)

// The guard logs the first few refusals, then one a minute.
const (
	refusalLogFirst    = 3
	refusalLogInterval = time.Minute
)

// guard refuses what a web page in an operator's browser could send to the
// admin listener (SPEC §6), before the token is even looked at:
//
//   - a Host that is not the listener's own: DNS rebinding points a name the
//     attacker controls at 127.0.0.1, and the browser then treats the admin
//     API as that name's origin. The Host header still carries the name.
//   - an Origin other than the admin's own: a cross-site request.
//   - a write without Content-Type: application/json: a form or a text/plain
//     fetch is a "simple" request that a browser sends cross-site without
//     asking first; a JSON one needs a CORS preflight, which we never grant.
//   - a query string that does not parse: Go drops the unparsable part, so
//     "?connection=a;b" would silently mean no filter at all.
//
// The health probes go through the same checks: an orchestrator's probe
// carries the pod's address or a configured name.
func (a *API) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, ok := a.allowedHost(r)
		if !ok {
			a.refuse(w, r, hookgate.Errorf(hookgate.EForbidden, "host %q is not this admin listener's (see admin.allowed_hosts)", clip(r.Host)))
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, r.Host, host) {
			a.refuse(w, r, hookgate.Errorf(hookgate.EForbidden, "cross-origin requests are refused (Origin %q)", clip(origin)))
			return
		}
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			a.refuse(w, r, hookgate.Errorf(hookgate.EInvalid, "query string does not parse: %s", clip(err.Error())))
			return
		}
		if isWrite(r.Method) && !a.page(r) { // the dashboard's login and logout are forms
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				a.refuse(w, r, hookgate.Errorf(hookgate.EUnsupportedType, "admin writes need Content-Type: application/json"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers a request the guard turned away, and logs it: a rebinding
// or cross-site attempt is worth an operator's attention. A page can send
// such requests in a loop, so the line is rate-limited and carries the
// running count instead of one line each.
func (a *API) refuse(w http.ResponseWriter, r *http.Request, err *hookgate.Error) {
	n := a.refused.Add(1)
	a.refusedLog.Do(func() {
		a.Logger.Warn("admin API refused a request", "reason", err.Message, "method", r.Method,
			"path", clip(r.URL.Path), "remote", r.RemoteAddr, "refused_since_start", n)
	})
	Error(w, err)
}

// authenticate requires "Authorization: Bearer <token>" on everything but
// the health probes and the dashboard's pages (which send a browser without
// a session to their login page). The scheme is case-insensitive (RFC 9110
// §11.1). A dashboard session stands in for the token (Browser.Authorize).
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Token != "" && r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && !a.page(r) && !a.bearer(r) {
			var err error = hookgate.Errorf(hookgate.EAdminAuth, "a valid admin bearer token is required")
			if a.Browser != nil {
				switch berr := a.Browser.Authorize(r); {
				case berr == nil:
					err = nil
				case hookgate.ErrorCode(berr) == hookgate.EForbidden:
					err = berr // a session, but a write without its CSRF token
				}
			}
			if err != nil {
				if hookgate.ErrorCode(err) == hookgate.EAdminAuth {
					w.Header().Set("WWW-Authenticate", `Bearer realm="hookgate-admin"`)
				}
				Error(w, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// bearer reports whether r carries the admin token.
func (a *API) bearer(r *http.Request) bool {
	scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	got = strings.TrimSpace(got)
	return strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(got), []byte(a.Token)) == 1
}

func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// allowedHost reports whether the request's Host names this listener, and
// returns the host name without its port. Allowed are localhost, any
// loopback address, the address the request arrived on (so a listener on
// 0.0.0.0 answers to the machine's own addresses) and AllowedHosts. The
// port is not compared: a rebinding attack controls the name, not the port,
// and a port mapping in front of the listener changes the port.
func (a *API) allowedHost(r *http.Request) (string, bool) {
	host := hostname(r.Host)
	if host == "" {
		return "", false
	}
	if host == "localhost" {
		return host, true
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsLoopback() {
			return host, true
		}
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if tcp, ok := la.(*net.TCPAddr); ok && tcp.IP.Equal(ip) {
				return host, true
			}
		}
		return "", false
	}
	for _, h := range a.AllowedHosts {
		if hostname(h) == host {
			return host, true
		}
	}
	return "", false
}

// hostname returns the lower-case host of a Host header value, without port,
// brackets or a trailing dot; "" when it does not parse.
func hostname(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if strings.ContainsAny(h, "[]/@ ") {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// sameOrigin reports whether origin is the admin's own: http or https, the
// host the request was sent to, and the same port. "null" (a sandboxed or
// file: page) is never the admin's own.
func sameOrigin(origin, reqHost, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || (u.Path != "" && u.Path != "/") {
		return false
	}
	if hostname(u.Host) != host {
		return false
	}
	return port(u.Port(), u.Scheme) == port(portOf(reqHost), u.Scheme)
}

func portOf(hostport string) string {
	if _, p, err := net.SplitHostPort(hostport); err == nil {
		return p
	}
	return ""
}

// port fills in the scheme's default port.
func port(p, scheme string) string {
	if p != "" {
		return p
	}
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// clip bounds a caller-supplied value quoted in an error message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
