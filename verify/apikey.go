package verify

import (
	"errors"
	"net/http"
	"strings"
)

// apiKeyScheme accepts an API key in a header: by default
// "Authorization: Bearer <key>", else the raw value of cfg.APIKey.Header.
// The key is cfg.APIKey.Value (secret id "api_key") or any of cfg.Secrets,
// so keys can be rotated like signing secrets.
type apiKeyScheme struct{}

const apiKeyID = "api_key"

var _ = scheme("api_key", apiKeyScheme{})

func (apiKeyScheme) NeedsSecret() bool { return false }

func (apiKeyScheme) Validate(cfg *Config) error {
	if err := requireSecretValues(cfg); err != nil {
		return err
	}
	if (cfg.APIKey == nil || cfg.APIKey.Value == "") && len(cfg.Secrets) == 0 {
		return errors.New("an api_key value or a secret is required")
	}
	return nil
}

func apiKeyHeader(cfg *Config) string {
	if cfg.APIKey != nil && cfg.APIKey.Header != "" {
		return cfg.APIKey.Header
	}
	return "Authorization"
}

func (apiKeyScheme) Verify(cfg *Config, req *Request) (Result, error) {
	header := apiKeyHeader(cfg)
	bearer := strings.EqualFold(header, "Authorization")
	tr := Trace{Scheme: "api_key", Header: header, Recipe: "API key compared to the header value"}
	if bearer {
		tr.Recipe = "API key compared to Authorization: Bearer <key>"
	}
	got := strings.TrimSpace(req.Header.Get(header))
	if got == "" {
		return fail(ReasonCredentialsMissing, tr)
	}
	if bearer {
		// The auth scheme name is case-insensitive (RFC 9110 §11.1).
		if len(got) < 7 || !strings.EqualFold(got[:7], "Bearer ") {
			tr.Note = "Authorization is not a Bearer credential"
			return fail(ReasonCredentialsInvalid, tr)
		}
		got = strings.TrimSpace(got[7:])
	}
	tr.SecretsTried = make([]string, 0, len(cfg.Secrets)+1)
	if cfg.APIKey != nil && cfg.APIKey.Value != "" {
		tr.SecretsTried = append(tr.SecretsTried, apiKeyID)
		if equalCredential(got, cfg.APIKey.Value) {
			return Result{SecretID: apiKeyID, Trace: tr}, nil
		}
	}
	for i, s := range cfg.Secrets {
		id := secretID(s, i)
		tr.SecretsTried = append(tr.SecretsTried, id)
		if s.Value != "" && equalCredential(got, s.Value) {
			return Result{SecretID: id, Trace: tr}, nil
		}
	}
	return fail(ReasonCredentialsInvalid, tr)
}

// Sign sends secret, or cfg.APIKey.Value when secret is empty.
func (apiKeyScheme) Sign(cfg *Config, req *Request, secret Secret) error {
	key := secret.Value
	if key == "" && cfg.APIKey != nil {
		key = cfg.APIKey.Value
	}
	if key == "" {
		return errors.New("sign: no api key")
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	header := apiKeyHeader(cfg)
	if strings.EqualFold(header, "Authorization") {
		key = "Bearer " + key
	}
	req.Header.Set(header, key)
	return nil
}
