package verify

import (
	"encoding/base64"
	"errors"
	"net/http"
)

// basicScheme is HTTP Basic authentication (RFC 7617) against cfg.Basic.
// Datadog's webhook integration and internal senders use it.
type basicScheme struct{}

var _ = scheme("basic", basicScheme{})

func (basicScheme) NeedsSecret() bool { return false }

func (basicScheme) Validate(cfg *Config) error {
	if cfg.Basic == nil || cfg.Basic.Password == "" {
		return errors.New("basic_auth with a password is required")
	}
	return nil
}

func (basicScheme) Verify(cfg *Config, req *Request) (Result, error) {
	tr := Trace{Scheme: "basic", Header: "Authorization", Recipe: "HTTP Basic username:password"}
	if req.Header.Get("Authorization") == "" {
		return fail(ReasonCredentialsMissing, tr)
	}
	user, pass, ok := (&http.Request{Header: req.Header}).BasicAuth()
	if !ok {
		tr.Note = "Authorization is not a valid Basic credential"
		return fail(ReasonCredentialsInvalid, tr)
	}
	if cfg.Basic == nil || cfg.Basic.Password == "" {
		return fail(ReasonCredentialsInvalid, tr)
	}
	// Both fields are compared, always, so timing does not tell which was wrong.
	userOK := equalCredential(user, cfg.Basic.Username)
	passOK := equalCredential(pass, cfg.Basic.Password)
	if !userOK || !passOK {
		return fail(ReasonCredentialsInvalid, tr)
	}
	return Result{Trace: tr}, nil
}

// Sign sets the configured credentials; secret is not used.
func (basicScheme) Sign(cfg *Config, req *Request, _ Secret) error {
	if cfg.Basic == nil {
		return errors.New("sign: no basic_auth configured")
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cfg.Basic.Username+":"+cfg.Basic.Password)))
	return nil
}
