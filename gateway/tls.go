package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/hookgate/hookgate/config"
)

// certificate is the public listener's TLS certificate, swapped atomically
// on reload: a handshake reads whichever pair is current, and connections
// already established keep the one they were made with.
type certificate struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// loadCertificate reads the pair of cfg.TLS; nil when TLS is not
// configured. serve and config check both go through it.
func loadCertificate(t *config.TLS) (*certificate, error) {
	if t == nil {
		return nil, nil
	}
	if t.CertFile == "" || t.KeyFile == "" {
		return nil, errors.New("tls: set both cert_file and key_file")
	}
	c := &certificate{certFile: t.CertFile, keyFile: t.KeyFile}
	if _, err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files again and, only if they form a valid pair, makes
// it the one new handshakes get.
func (c *certificate) reload() (*tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: load %s and %s: %w", c.certFile, c.keyFile, err)
	}
	c.cur.Store(&pair)
	return &pair, nil
}

func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// serverTLS is the public listener's TLS configuration: TLS 1.2 at least
// (Go's default cipher suites for 1.2 are all AEAD with forward secrecy).
func (c *certificate) serverTLS() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.get}
}

// ReloadTLS reads tls.cert_file and tls.key_file again; serve calls it on
// SIGHUP. New handshakes get the new certificate, open connections keep
// theirs. A pair that does not load is refused with a log line and an
// error, and the previous one stays in force. Without TLS it does nothing.
func (g *Gateway) ReloadTLS() error {
	if g.cert == nil {
		return nil
	}
	pair, err := g.cert.reload()
	if err != nil {
		g.logger.Error("TLS certificate not reloaded; the previous one stays in force", "err", err)
		return err
	}
	attrs := []any{"cert_file", g.cert.certFile}
	if pair.Leaf != nil {
		attrs = append(attrs, "subject", pair.Leaf.Subject.String(), "not_after", pair.Leaf.NotAfter)
	}
	g.logger.Info("TLS certificate reloaded", attrs...)
	return nil
}
