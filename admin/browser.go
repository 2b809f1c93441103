package admin

import "net/http"

// CSRFHeader carries a browser session's CSRF token on API writes.
const CSRFHeader = "X-CSRF-Token"

// Browser is the dashboard (package admin/dashboard) as the admin API sees
// it: pages of its own on the admin listener (SPEC §6 "GET /"), and browser
// sessions that stand in for the bearer token.
//
// The guard's Host and Origin checks apply to the pages as to every route.
// The pages check their session themselves (a browser without one is sent
// to the login page, not answered 401), and their form posts (login,
// logout) are not JSON.
type Browser interface {
	// Mount adds the dashboard's pages to mux.
	Mount(mux *http.ServeMux)
	// Owns reports whether r is for one of the dashboard's pages.
	Owns(r *http.Request) bool
	// Authorize accepts r when it carries a live session cookie and, when
	// r is a write, that session's CSRF token in the CSRFHeader header: the
	// API then serves r as if it carried the admin token. Otherwise the
	// error says why: EAdminAuth without a live session, EForbidden for a
	// write without the session's CSRF token.
	Authorize(r *http.Request) error
}

// page reports whether r is for a page of the dashboard.
func (a *API) page(r *http.Request) bool {
	return a.Browser != nil && a.Browser.Owns(r)
}
