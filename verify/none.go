package verify

import "errors"

// noneScheme accepts every request. New refuses it unless the connection
// sets allow_unauthenticated: true; the gateway logs such connections loudly.
type noneScheme struct{}

var _ = scheme("none", noneScheme{})

func (noneScheme) NeedsSecret() bool { return false }

func (noneScheme) Validate(cfg *Config) error {
	if !cfg.AllowUnauthenticated {
		return errors.New("requires allow_unauthenticated: true")
	}
	return nil
}

func (noneScheme) Verify(cfg *Config, req *Request) (Result, error) {
	if !cfg.AllowUnauthenticated {
		// Fail closed even when called without New.
		return fail(ReasonCredentialsMissing, Trace{Scheme: "none", Note: "allow_unauthenticated is not set"})
	}
	return Result{Trace: Trace{Scheme: "none", Note: "unauthenticated connection: nothing verified"}}, nil
}

func (noneScheme) Sign(*Config, *Request, Secret) error { return nil }
