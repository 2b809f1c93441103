package ingress

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Proxies says which peers may speak for the client with X-Forwarded-*
// headers (SPEC §3.1: trusted only from trusted_proxies).
type Proxies []netip.Prefix

// ParsePrefixes reads CIDRs or bare addresses.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (p Proxies) trusts(r *http.Request) bool {
	return len(p) > 0 && contains(p, peerAddr(r))
}

func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// ClientAddr is the sender's address: the peer, or — when the peer is a
// trusted proxy — the right-most address of X-Forwarded-For that is not
// itself a trusted proxy (the left part of the header is the client's own
// claim and cannot be trusted).
func (p Proxies) ClientAddr(r *http.Request) netip.Addr {
	peer := peerAddr(r)
	if !p.trusts(r) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer
		}
		if !contains(p, a) {
			return a.Unmap()
		}
	}
	return peer
}

// PublicURL is the URL as the provider called it, for schemes that sign the
// URL: the connection's public_url, else the server's public_base_url plus
// the request path and query, else the request's own scheme and host — from
// X-Forwarded-Proto/-Host only when the peer is a trusted proxy.
func (p Proxies) PublicURL(r *http.Request, connURL, base *url.URL) *url.URL {
	if connURL != nil {
		u := *connURL
		if u.RawQuery == "" {
			u.RawQuery = r.URL.RawQuery
		}
		return &u
	}
	if base != nil {
		u := *base
		u.Path = strings.TrimRight(base.Path, "/") + r.URL.Path
		u.RawPath = ""
		u.RawQuery = r.URL.RawQuery
		return &u
	}
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	if r.TLS != nil {
		u.Scheme = "https"
	}
	if p.trusts(r) {
		if proto := firstValue(r.Header.Get("X-Forwarded-Proto")); proto == "http" || proto == "https" {
			u.Scheme = proto
		}
		if host := firstValue(r.Header.Get("X-Forwarded-Host")); host != "" {
			u.Host = host
		}
	}
	return u
}

func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}
