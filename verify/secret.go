package verify

import (
	"errors"
	"net/http"
	"strings"
)

// secretScheme compares a shared token sent verbatim in cfg.SignatureHeader
// (Google Calendar X-Goog-Channel-Token, Cloudflare cf-webhook-auth, GitLab
// X-Gitlab-Token, …) with every active secret.
//
// The trace never records the expected or the received value: here the
// "signature" is the secret itself.
type secretScheme struct{}

var _ = scheme("secret", secretScheme{})

func (secretScheme) NeedsSecret() bool { return true }

func (secretScheme) Validate(cfg *Config) error {
	if cfg.SignatureHeader == "" {
		return errNoHeader
	}
	return requireSecretValues(cfg)
}

func (secretScheme) Verify(cfg *Config, req *Request) (Result, error) {
	tr := Trace{Scheme: "secret", Header: cfg.SignatureHeader, Recipe: "shared secret compared to the header value"}
	if cfg.SignatureHeader == "" {
		return fail(ReasonSignatureMissing, tr)
	}
	got := strings.TrimSpace(req.Header.Get(cfg.SignatureHeader))
	if got == "" {
		return fail(ReasonSignatureMissing, tr)
	}
	tr.SecretsTried = make([]string, 0, len(cfg.Secrets))
	for i, s := range cfg.Secrets {
		id := secretID(s, i)
		tr.SecretsTried = append(tr.SecretsTried, id)
		if s.Value != "" && equalCredential(got, s.Value) {
			return Result{SecretID: id, Trace: tr}, nil
		}
	}
	return fail(ReasonSignatureMismatch, tr)
}

func (secretScheme) Sign(cfg *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errors.New("sign: empty secret")
	}
	if cfg.SignatureHeader == "" {
		return errNoHeader
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set(cfg.SignatureHeader, secret.Value)
	return nil
}
