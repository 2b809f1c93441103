package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/admin"
)

// The browser session (docs/security.md, "The dashboard").
const (
	// cookieName is the session cookie. Its value is a random session id;
	// the admin token never leaves the login form.
	cookieName = "hookgate_session"
	// sessionTTL is how long a session lasts after login.
	sessionTTL = 12 * time.Hour
	// maxSessions bounds the server-side session map. Only a correct token
	// creates a session; past the bound the session nearest its end goes.
	maxSessions = 1000
	// loginBurst failed or not, then one attempt per loginEvery.
	loginBurst = 5
	loginEvery = 2 * time.Second
)

// session is one logged-in browser.
type session struct {
	csrf    string // sent back on every write, in a header or a form field
	expires time.Time
}

// sessions is the server-side session map, keyed by the SHA-256 of the
// cookie value so the map never holds a usable cookie.
type sessions struct {
	mu sync.Mutex
	m  map[[32]byte]session
}

func newSessions() *sessions { return &sessions{m: map[[32]byte]session{}} }

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session and returns its cookie value.
func (s *sessions) create(now time.Time) string {
	id := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		var (
			oldest    [32]byte
			oldestEnd time.Time
		)
		for k, v := range s.m {
			if !v.expires.After(now) {
				delete(s.m, k)
				continue
			}
			if oldestEnd.IsZero() || v.expires.Before(oldestEnd) {
				oldest, oldestEnd = k, v.expires
			}
		}
		if len(s.m) >= maxSessions {
			delete(s.m, oldest)
		}
	}
	s.m[sha256.Sum256([]byte(id))] = session{csrf: randomToken(), expires: now.Add(sessionTTL)}
	return id
}

// get returns the live session of a cookie value.
func (s *sessions) get(id string, now time.Time) (session, bool) {
	if id == "" {
		return session{}, false
	}
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	if ok && !v.expires.After(now) {
		delete(s.m, k)
		return session{}, false
	}
	return v, ok
}

// end forgets a session (logout).
func (s *sessions) end(id string) {
	s.mu.Lock()
	delete(s.m, sha256.Sum256([]byte(id)))
	s.mu.Unlock()
}

// session returns the live session r carries.
func (d *Dashboard) session(r *http.Request) (string, session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return "", session{}, false
	}
	s, ok := d.sessions.get(c.Value, d.now())
	return c.Value, s, ok
}

// Authorize implements admin.Browser: a live session cookie, and on a
// write the session's CSRF token in the X-CSRF-Token header.
func (d *Dashboard) Authorize(r *http.Request) error {
	_, s, ok := d.session(r)
	if !ok {
		return hookgate.Errorf(hookgate.EAdminAuth, "no live dashboard session")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if !sameToken(r.Header.Get(admin.CSRFHeader), s.csrf) {
		return hookgate.Errorf(hookgate.EForbidden, "a write with the dashboard session needs its CSRF token in %s", admin.CSRFHeader)
	}
	return nil
}

// sameToken compares secrets in constant time; an empty one never matches.
func sameToken(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// setCookie sets (or, with maxAge < 0, clears) the session cookie:
// HttpOnly so page scripts cannot read it, SameSite=Strict so no other
// site's page or link sends it, Secure when the admin listener is TLS.
func setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}
