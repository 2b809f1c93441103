// Package dashboard is the admin listener's web dashboard (SPEC §6 "GET /"):
// server-rendered pages (html/template) with a little vanilla JavaScript,
// every asset embedded in the binary. It shows connections with their
// health, a delivery chart, receipt search and detail, and drives the admin
// API (replay, bulk replay, admit, circuit reset) and its live event stream
// with a browser session that stands in for the admin token.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/admin"
)

// Gateway is what the dashboard shows; *gateway.Gateway implements it.
type Gateway interface {
	Store() hookgate.Store
	Connections() []*hookgate.Connection
	Handlers() []admin.HandlerInfo
}

// Options configure a Dashboard.
type Options struct {
	GW Gateway
	// Token is the admin token. Empty: the admin API asks for none, and
	// neither does the dashboard (no login page).
	Token  string
	Logger *slog.Logger
	// Now is the clock (tests set it); nil is time.Now.
	Now func() time.Time
}

// Dashboard serves the pages. It implements admin.Browser.
type Dashboard struct {
	gw       Gateway
	token    string
	logger   *slog.Logger
	now      func() time.Time
	sessions *sessions
	logins   *rate.Limiter
	loginLog rate.Sometimes
	pages    map[string]*template.Template
	assets   map[string]asset
	version  string // of the assets, in their URLs
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/*
var assetFS embed.FS

// New returns the dashboard of o.GW.
func New(o Options) *Dashboard {
	d := &Dashboard{gw: o.GW, token: o.Token, logger: o.Logger, now: o.Now, sessions: newSessions(),
		logins: rate.NewLimiter(rate.Every(loginEvery), loginBurst), pages: map[string]*template.Template{},
		assets: map[string]asset{}}
	if d.now == nil {
		d.now = time.Now
	}
	if d.logger == nil {
		d.logger = slog.New(slog.DiscardHandler)
	}
	d.loginLog.First, d.loginLog.Interval = 3, time.Minute
	funcs := template.FuncMap{"ts": formatTime, "ago": d.ago, "pathEscape": url.PathEscape,
		"sub": func(a, b int) int { return a - b }}
	for _, name := range []string{"login", "overview", "receipts", "receipt", "error"} {
		// The templates are embedded: one that does not parse fails every
		// test, so it is a programming error here.
		d.pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	h := sha256.New()
	entries, _ := fs.ReadDir(assetFS, "assets")
	for _, e := range entries {
		b, _ := fs.ReadFile(assetFS, "assets/"+e.Name())
		sum := sha256.Sum256(b)
		ctype := "text/css; charset=utf-8"
		if path.Ext(e.Name()) == ".js" {
			ctype = "text/javascript; charset=utf-8"
		}
		d.assets[e.Name()] = asset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		h.Write(sum[:])
	}
	d.version = hex.EncodeToString(h.Sum(nil)[:6])
	return d
}

// Mount implements admin.Browser.
func (d *Dashboard) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", d.page(d.overview))
	mux.HandleFunc("GET /receipts", d.page(d.receipts))
	mux.HandleFunc("GET /receipts/{id}", d.page(d.receipt))
	mux.HandleFunc("GET /login", d.loginPage)
	mux.HandleFunc("POST /login", d.login)
	mux.HandleFunc("POST /logout", d.logout)
	mux.HandleFunc("GET /assets/{name}", d.asset)
}

// Owns implements admin.Browser: the paths Mount serves.
func (d *Dashboard) Owns(r *http.Request) bool {
	p := r.URL.Path
	return p == "/" || p == "/login" || p == "/logout" || p == "/receipts" ||
		strings.HasPrefix(p, "/receipts/") || strings.HasPrefix(p, "/assets/")
}

// base is what every page's layout shows.
type base struct {
	Title    string
	Page     string // body data-page: which live updates the script runs
	CSRF     string
	LoggedIn bool // there is a session to log out of
	Version  string
}

// view is what a page handler fills in.
type view struct {
	base
	status int
}

// page wraps a page handler: security headers, and the session when the
// admin listener has a token. A browser without a session goes to the
// login page, and comes back afterwards.
func (d *Dashboard) page(h func(w http.ResponseWriter, r *http.Request, v *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := &view{base: base{Version: d.version}}
		if d.token != "" {
			_, s, ok := d.session(r)
			if !ok {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			v.CSRF, v.LoggedIn = s.csrf, true
		}
		h(w, r, v)
	}
}

// render writes a page. Rendering into a buffer first means a template
// error never leaves half a page behind a 200.
func (d *Dashboard) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := d.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		d.logger.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	// No inline script, no other origin: a receipt body that slipped
	// through escaping still could not run.
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	// Not no-referrer: with it, a browser sends "Origin: null" on the
	// page's own form posts and fetches, which the guard refuses.
	hdr.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage is a page that only says what went wrong.
type errorPage struct {
	base
	Message string
}

func (d *Dashboard) fail(w http.ResponseWriter, v *view, err error) {
	if hookgate.ErrorCode(err) == hookgate.EInternal || hookgate.ErrorStatus(err) >= 500 {
		d.logger.Error("dashboard", "err", err)
	}
	v.Title, v.Page = "Error", "error"
	d.render(w, hookgate.ErrorStatus(err), "error", errorPage{base: v.base, Message: hookgate.ErrorMessage(err)})
}

func (d *Dashboard) asset(w http.ResponseWriter, r *http.Request) {
	a, ok := d.assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("ETag", a.etag)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == d.version {
		// The URL names this build's assets: they never change under it.
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// loginPage is the login form. Without an admin token there is nothing to
// log in to.
type loginPage struct {
	base
	Next    string
	Message string
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	if d.token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	d.render(w, http.StatusOK, "login", loginPage{base: base{Title: "Log in", Page: "login", Version: d.version},
		Next: localPath(r.URL.Query().Get("next"))})
}

// login checks the admin token posted by the form (never in a URL), in
// constant time and at a bounded rate, and starts a session.
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	if d.token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	page := loginPage{base: base{Title: "Log in", Page: "login", Version: d.version}}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		page.Message = "The login form did not parse."
		d.render(w, http.StatusBadRequest, "login", page)
		return
	}
	page.Next = localPath(r.PostForm.Get("next"))
	now := d.now()
	// The limit comes before the comparison: past it, not even the right
	// token gets in, so guessing learns nothing faster.
	if !d.logins.AllowN(now, 1) {
		d.loginLog.Do(func() { d.logger.Warn("dashboard: login attempts rate-limited", "remote", r.RemoteAddr) })
		w.Header().Set("Retry-After", strconv.Itoa(int(loginEvery/time.Second)))
		page.Message = "Too many login attempts. Wait a few seconds and try again."
		d.render(w, http.StatusTooManyRequests, "login", page)
		return
	}
	if !sameToken(r.PostForm.Get("token"), d.token) {
		d.loginLog.Do(func() { d.logger.Warn("dashboard: wrong admin token at login", "remote", r.RemoteAddr) })
		page.Message = "That is not the admin token."
		d.render(w, http.StatusUnauthorized, "login", page)
		return
	}
	setCookie(w, r, d.sessions.create(now), int(sessionTTL/time.Second))
	target := page.Next
	if target == "" {
		target = "/"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// logout ends the session. The form carries the session's CSRF token, so
// no other page can log the operator out.
func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	id, s, ok := d.session(r)
	if ok {
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		if err := r.ParseForm(); err != nil || !sameToken(r.PostForm.Get("csrf"), s.csrf) {
			d.fail(w, &view{base: base{Version: d.version}}, hookgate.Errorf(hookgate.EForbidden, "the logout form lacks this session's CSRF token"))
			return
		}
		d.sessions.end(id)
	}
	setCookie(w, r, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// localPath keeps a redirect target on this site: a path, not "//host"
// or "/\host" (which browsers read as another host).
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || len(p) > 2000 {
		return ""
	}
	return p
}

// formatTime is the dashboard's time format (UTC, to the second).
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// ago says how long before now t was.
func (d *Dashboard) ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	s := d.now().Sub(t)
	switch {
	case s < time.Minute:
		return strconv.Itoa(max(int(s/time.Second), 0)) + " s ago"
	case s < time.Hour:
		return strconv.Itoa(int(s/time.Minute)) + " min ago"
	case s < 48*time.Hour:
		return strconv.Itoa(int(s/time.Hour)) + " h ago"
	}
	return strconv.Itoa(int(s/(24*time.Hour))) + " days ago"
}

// withQuery is path with q, for links.
func withQuery(p string, q url.Values) string {
	if len(q) == 0 {
		return p
	}
	return p + "?" + q.Encode()
}
