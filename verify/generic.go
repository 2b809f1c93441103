package verify

import (
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"
)

// genericScheme is auth type "hmac": an HMAC whose algorithm, encoding,
// prefix and signed content are configured (Config.Algorithm, Encoding,
// Prefix, Template), for senders without a preset.
//
// The template is literal text with placeholders: {body} (the raw body),
// {timestamp} (the value of TimestampHeader, which is then required and
// checked against the replay window, as unix seconds), {method}, {url} (the
// public URL) and {header:Name}. The default is "{body}". A template is
// parsed at start-up (Validate): an unknown placeholder, an unclosed brace or
// {timestamp} without TimestampHeader is an error, never a silent fallback.
//
// The signature header may carry several signatures, as several header lines
// or comma-separated (neither hex nor base64 contains a comma); each is
// tried. The prefix is stripped when present and written by Sign; a
// signature without it is still tried, with a note.
type genericScheme struct{}

var _ = scheme("hmac", genericScheme{})

// segment is one piece of a parsed template.
type segment struct {
	kind string // "text", "body", "timestamp", "method", "url", "header"
	text string // literal text, or the header name
}

func (genericScheme) NeedsSecret() bool { return true }

func (genericScheme) Validate(cfg *Config) error {
	if cfg.SignatureHeader == "" {
		return errNoHeader
	}
	if err := requireSecretValues(cfg); err != nil {
		return err
	}
	if _, err := macByName(cfg.Algorithm, cfg.Encoding); err != nil {
		return err
	}
	if strings.ContainsAny(cfg.Prefix, ", \t") {
		return fmt.Errorf("signature prefix %q must not contain commas or spaces", cfg.Prefix)
	}
	segs, err := parseTemplate(cfg.Template)
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s.kind == "timestamp" && cfg.TimestampHeader == "" {
			return errors.New("template uses {timestamp} but timestamp_header is not set")
		}
	}
	return nil
}

// parseTemplate parses a signed-content template ("" is "{body}").
func parseTemplate(t string) ([]segment, error) {
	if t == "" {
		return []segment{{kind: "body"}}, nil
	}
	var segs []segment
	for t != "" {
		open := strings.IndexByte(t, '{')
		if open < 0 {
			segs = append(segs, segment{kind: "text", text: t})
			break
		}
		if open > 0 {
			segs = append(segs, segment{kind: "text", text: t[:open]})
		}
		end := strings.IndexByte(t[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("template: unclosed { at %q", prefix8(t[open:]))
		}
		ph := t[open+1 : open+end]
		switch {
		case ph == "body", ph == "timestamp", ph == "method", ph == "url":
			segs = append(segs, segment{kind: ph})
		case strings.HasPrefix(ph, "header:"):
			name := strings.TrimPrefix(ph, "header:")
			if !validHeaderName(name) {
				return nil, fmt.Errorf("template: {header:%s} is not a valid header name", name)
			}
			segs = append(segs, segment{kind: "header", text: name})
		default:
			return nil, fmt.Errorf("template: unknown placeholder {%s} (known: {body}, {timestamp}, {method}, {url}, {header:Name})", ph)
		}
		t = t[open+end+1:]
	}
	return segs, nil
}

// validHeaderName reports an RFC 9110 field name (a token).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// render builds the signed content; missing is the reason and note when a
// piece the template needs is absent.
func render(segs []segment, cfg *Config, req *Request, tr *Trace) (variant, string) {
	v := make(variant, 0, len(segs))
	for _, s := range segs {
		switch s.kind {
		case "text":
			v = append(v, []byte(s.text))
		case "body":
			v = append(v, req.Body)
		case "method":
			v = append(v, []byte(req.Method))
		case "timestamp":
			ts := strings.TrimSpace(req.Header.Get(cfg.TimestampHeader))
			if ts == "" {
				tr.Note = joinNote(tr.Note, cfg.TimestampHeader+" header missing")
				return nil, ReasonTimestampMissing
			}
			v = append(v, []byte(ts))
		case "url":
			if !needURL(req, tr) {
				return nil, ReasonSignatureMismatch
			}
			v = append(v, []byte(req.URL.String()))
		case "header":
			vals := req.Header.Values(s.text)
			if len(vals) == 0 {
				tr.Note = joinNote(tr.Note, "header "+textproto.CanonicalMIMEHeaderKey(s.text)+" named in the template is missing")
				return nil, ReasonSignatureMissing
			}
			v = append(v, []byte(vals[0]))
		}
	}
	return v, ""
}

func genericRecipe(m mac, cfg *Config) string {
	t := cfg.Template
	if t == "" {
		t = "{body}"
	}
	r := fmt.Sprintf("HMAC-%s(secret, %s) as %s", m.algo, t, m.encodingName())
	if cfg.Prefix != "" {
		r += ", prefix " + cfg.Prefix
	}
	return r
}

func (genericScheme) Verify(cfg *Config, req *Request) (Result, error) {
	tr := Trace{Scheme: "hmac", Header: cfg.SignatureHeader}
	m, err := macByName(cfg.Algorithm, cfg.Encoding)
	segs, terr := parseTemplate(cfg.Template)
	if err != nil || terr != nil || cfg.SignatureHeader == "" {
		// Refused by Validate; called directly, fail closed.
		tr.Note = "invalid hmac configuration"
		return fail(ReasonSignatureMismatch, tr)
	}
	tr.Recipe = genericRecipe(m, cfg)
	var cands []string
	missingPrefix := 0
	for _, line := range req.Header.Values(cfg.SignatureHeader) {
		for c := range strings.SplitSeq(line, ",") {
			c = strings.TrimSpace(c)
			if c == "" {
				continue
			}
			if cfg.Prefix != "" {
				var ok bool
				if c, ok = strings.CutPrefix(c, cfg.Prefix); !ok {
					missingPrefix++
				}
			}
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return fail(ReasonSignatureMissing, tr)
	}
	if missingPrefix > 0 {
		tr.Note = joinNote(tr.Note, "prefix "+cfg.Prefix+" missing")
	}
	content, reason := render(segs, cfg, req, &tr)
	if reason != "" {
		return fail(reason, tr)
	}
	r := m.collect(cands, 0, &tr)
	i, reason := m.match(cfg, r, &tr, nil, content)
	if i < 0 {
		return fail(reason, tr)
	}
	res := done(cfg, i, tr)
	if cfg.TimestampHeader != "" {
		// Checked after the signature (401 before 409), whether or not the
		// template signs it.
		t, reason := checkTimestamp(cfg, req, req.Header.Get(cfg.TimestampHeader), &tr)
		if reason != "" {
			return fail(reason, tr)
		}
		res.Timestamp, res.Trace = t, tr
	}
	return res, nil
}

// Sign writes TimestampHeader (req.Now, unix seconds) when configured, then
// the prefixed signature of the rendered template.
func (genericScheme) Sign(cfg *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errEmptySecret
	}
	if cfg.SignatureHeader == "" {
		return errNoHeader
	}
	m, err := macByName(cfg.Algorithm, cfg.Encoding)
	if err != nil {
		return err
	}
	segs, err := parseTemplate(cfg.Template)
	if err != nil {
		return err
	}
	if cfg.TimestampHeader != "" {
		setHeader(req, cfg.TimestampHeader, strconv.FormatInt(clock(req).Unix(), 10))
	}
	if req.Header == nil {
		req.Header = map[string][]string{}
	}
	var tr Trace
	content, reason := render(segs, cfg, req, &tr)
	if reason != "" {
		return fmt.Errorf("sign: %s (%s)", reason, tr.Note)
	}
	setHeader(req, cfg.SignatureHeader, cfg.Prefix+m.encode(m.sum([]byte(secret.Value), content...)))
	return nil
}
