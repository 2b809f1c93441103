package httpsend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// ErrForbiddenDestination is the cause of a connection the destinations
// policy refused: the address is outside allowed_destinations. It is a
// configuration error, so a delivery that meets it is not retried.
var ErrForbiddenDestination = errors.New("not in allowed_destinations")

// Destinations is the allowed_destinations policy (SPEC §5, §6): where an
// http handler made at run time through the admin API may connect. Entries
// are networks (CIDR, or one IP address) and host names.
//
// A URL is accepted when its host is an IP address inside a listed network
// or a listed name (CheckURL). The decision that counts is taken again on
// every connection, with the address actually dialled (Dialer): an address
// inside a listed network is allowed; an address that a listed name resolves
// to is allowed too, unless it is a loopback, link-local (cloud metadata
// services), unspecified or multicast address that no listed network holds.
// Since the check sees the resolved address, a name whose DNS answer changes
// after the handler was made (DNS rebinding), and a redirect to another
// host, cannot reach an address the policy does not allow.
type Destinations struct {
	nets  []netip.Prefix
	names map[string]bool
}

// ParseDestinations reads allowed_destinations entries.
func ParseDestinations(entries []string) (*Destinations, error) {
	d := &Destinations{names: map[string]bool{}}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			return nil, fmt.Errorf("allowed_destinations: empty entry")
		case strings.Contains(e, "/"):
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("allowed_destinations: %q is not a network (CIDR): %w", e, err)
			}
			d.nets = append(d.nets, p.Masked())
		default:
			if ip, err := netip.ParseAddr(e); err == nil {
				d.nets = append(d.nets, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
				continue
			}
			name := canonicalHost(e)
			if strings.ContainsAny(name, ":/@ *") {
				return nil, fmt.Errorf("allowed_destinations: %q is neither a network (CIDR), an IP address nor a host name", e)
			}
			d.names[name] = true
		}
	}
	return d, nil
}

// Empty reports whether the policy allows nothing.
func (d *Destinations) Empty() bool { return d == nil || (len(d.nets) == 0 && len(d.names) == 0) }

// canonicalHost is a host name as the policy compares it.
func canonicalHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// CheckURL decides whether an http handler may be made with rawURL: an
// absolute http(s) URL whose host is a listed name, or an IP address
// inside a listed network.
func (d *Destinations) CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url must be an absolute http(s) URL")
	}
	if d.Empty() {
		return errors.New("allowed_destinations is empty in the config file, so no http handler can be made at run time: list the networks and host names run-time handlers may reach there")
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if d.inNets(ip.Unmap()) {
			return nil
		}
		return fmt.Errorf("url host %s is %w", host, ErrForbiddenDestination)
	}
	if d.names[canonicalHost(host)] {
		return nil
	}
	return fmt.Errorf("url host %q is %w (list the name itself; a network does not admit names)", host, ErrForbiddenDestination)
}

func (d *Destinations) inNets(ip netip.Addr) bool {
	if d == nil {
		return false
	}
	for _, p := range d.nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// allows decides one connection: to ip, reached through host name (empty
// when the URL named the address itself).
func (d *Destinations) allows(name string, ip netip.Addr) bool {
	if d == nil {
		return false
	}
	ip = ip.Unmap()
	if d.inNets(ip) {
		return true
	}
	if name == "" || !d.names[canonicalHost(name)] {
		return false
	}
	return !(ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast())
}

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dialer connects only where its Destinations allow. It resolves the name
// itself, checks every address, and dials the address it checked, so no
// second lookup can change the answer between check and connect.
type Dialer struct {
	// Policy returns the policy in force; it is asked on every connection,
	// so a reloaded list applies to the next one.
	Policy func() *Destinations
	// Resolver resolves host names; nil is net.DefaultResolver.
	Resolver Resolver
	// Dialer makes the connections (its zero value is fine).
	Dialer net.Dialer
}

// DialContext is a net/http Transport's DialContext.
func (g *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !g.Policy().allows("", ip) {
			return nil, fmt.Errorf("connect to %s: %w", ip, ErrForbiddenDestination)
		}
		return g.Dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
	}
	var r Resolver = net.DefaultResolver
	if g.Resolver != nil {
		r = g.Resolver
	}
	lookup := "ip"
	switch network {
	case "tcp4":
		lookup = "ip4"
	case "tcp6":
		lookup = "ip6"
	}
	ips, err := r.LookupNetIP(ctx, lookup, host)
	if err != nil {
		return nil, err
	}
	var refused []string
	var lastErr error
	policy := g.Policy()
	for _, ip := range ips {
		if !policy.allows(host, ip) {
			refused = append(refused, ip.Unmap().String())
			continue
		}
		c, err := g.Dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, fmt.Errorf("connect to %s: it resolves to %s, %w", host, strings.Join(refused, ", "), ErrForbiddenDestination)
}

// NewGuardedClient returns an HTTP client for run-time http handlers: every
// connection, redirects included, goes through a Dialer with policy, and no
// proxy from the environment is used (a proxy would make the dialled
// address the proxy's). resolver may be nil.
func NewGuardedClient(policy func() *Destinations, resolver Resolver, maxIdlePerHost int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = (&Dialer{Policy: policy, Resolver: resolver, Dialer: net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}}).DialContext
	t.MaxIdleConnsPerHost = max(maxIdlePerHost, 2)
	return &http.Client{Transport: t}
}
