package dashboard

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookgate/hookgate"
)

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request, v *view) {
	page, err := d.overviewData(r.Context(), windowNamed(r.URL.Query().Get("window")))
	if err != nil {
		d.fail(w, v, err)
		return
	}
	v.Title, v.Page = "Overview", "overview"
	page.base = v.base
	d.render(w, http.StatusOK, "overview", page)
}

// pageSize is how many receipts the search page shows at once.
const pageSize = 50

// receiptsPage is GET /receipts: the search form, one page of results and
// the link to the next.
type receiptsPage struct {
	base
	Filter      filterForm
	Connections []string
	Statuses    []hookgate.Status
	Receipts    []*hookgate.Receipt
	Next        string // URL of the next page, "" on the last
	First       string // URL of the first page, "" on it
	Message     string // what is wrong with the filter
}

// filterForm is the search form as submitted, shown back as typed.
type filterForm struct {
	Connection, Status, EventType, Since, Until, Cursor string
}

// timeForms are what the since and until fields accept: a datetime-local
// input's value (read as UTC) or RFC 3339.
var timeForms = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

func parseTime(s string) (time.Time, bool) {
	for _, f := range timeForms {
		if t, err := time.Parse(f, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// filter reads the search form into the store's filter.
func (f filterForm) filter() (hookgate.ReceiptFilter, error) {
	rf := hookgate.ReceiptFilter{Connection: f.Connection, Status: hookgate.Status(f.Status), EventType: f.EventType,
		Cursor: f.Cursor, Limit: pageSize}
	if rf.Status != "" && !rf.Status.Valid() {
		return rf, hookgate.Errorf(hookgate.EInvalid, "unknown status %q", clip(f.Status))
	}
	for _, t := range []struct {
		name, value string
		dst         *time.Time
	}{{"since", f.Since, &rf.Since}, {"until", f.Until, &rf.Until}} {
		if t.value == "" {
			continue
		}
		at, ok := parseTime(t.value)
		if !ok {
			return rf, hookgate.Errorf(hookgate.EInvalid, "%s must be a time such as 2026-01-02T15:04 (UTC) or RFC 3339", t.name)
		}
		*t.dst = at
	}
	return rf, nil
}

func (f filterForm) values(cursor string) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"connection": f.Connection, "status": f.Status, "event_type": f.EventType,
		"since": f.Since, "until": f.Until, "cursor": cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

func (d *Dashboard) receipts(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	f := filterForm{Connection: q.Get("connection"), Status: q.Get("status"), EventType: q.Get("event_type"),
		Since: q.Get("since"), Until: q.Get("until"), Cursor: q.Get("cursor")}
	v.Title, v.Page = "Receipts", "receipts"
	page := receiptsPage{base: v.base, Filter: f, Statuses: hookgate.Statuses()}
	for _, c := range d.gw.Connections() {
		page.Connections = append(page.Connections, c.Name)
	}
	slices.Sort(page.Connections)
	status := http.StatusOK
	rf, err := f.filter()
	if err == nil {
		var next string
		page.Receipts, next, err = d.gw.Store().Receipts(r.Context(), rf)
		if next != "" {
			page.Next = withQuery("/receipts", f.values(next))
		}
	}
	if err != nil {
		if hookgate.ErrorStatus(err) >= 500 {
			d.fail(w, v, err)
			return
		}
		status, page.Message = hookgate.ErrorStatus(err), hookgate.ErrorMessage(err)
	}
	if f.Cursor != "" {
		page.First = withQuery("/receipts", f.values(""))
	}
	d.render(w, status, "receipts", page)
}

// maxShownBody bounds the body the detail page shows; the API serves it
// whole.
const maxShownBody = 256 << 10

// receiptPage is GET /receipts/{id}.
type receiptPage struct {
	base
	R         *hookgate.Receipt
	Headers   []header
	Body      string // pretty-printed when it is JSON
	BodyNote  string // why the body is shown as it is
	Trace     string
	Attempts  []hookgate.Attempt // newest round first
	CanReplay bool
	CanAdmit  bool
}

type header struct{ Name, Value string }

func (d *Dashboard) receipt(w http.ResponseWriter, r *http.Request, v *view) {
	rc, err := d.gw.Store().Receipt(r.Context(), r.PathValue("id"))
	if err != nil {
		d.fail(w, v, err)
		return
	}
	v.Title, v.Page = "Receipt "+rc.ID, "receipt"
	page := receiptPage{base: v.base, R: rc, Attempts: slices.Clone(rc.Attempts)}
	for name, vals := range rc.Headers {
		for _, val := range vals {
			page.Headers = append(page.Headers, header{name, val})
		}
	}
	slices.SortStableFunc(page.Headers, func(a, b header) int { return strings.Compare(a.Name, b.Name) })
	page.Body, page.BodyNote = showBody(rc.Body)
	if len(rc.Trace) > 0 {
		page.Trace = pretty(rc.Trace)
	}
	slices.SortStableFunc(page.Attempts, func(a, b hookgate.Attempt) int { return b.Round - a.Round })
	switch rc.Status {
	case hookgate.StatusRejected:
		page.CanAdmit = true
	case hookgate.StatusDuplicate, hookgate.StatusHandshake:
	default:
		page.CanReplay = true
	}
	d.render(w, http.StatusOK, "receipt", page)
}

// showBody is the body as text to show, and a note when it is not shown as
// received. html/template escapes it: bodies come from anyone.
func showBody(b []byte) (string, string) {
	switch {
	case b == nil:
		return "", "No body is stored (a rejected receipt past its budget, or one that never had one)."
	case !utf8.Valid(b):
		note := "The body is not UTF-8 text; shown as base64."
		if len(b) > maxShownBody {
			b, note = b[:maxShownBody], note+" Truncated: the admin API serves it whole."
		}
		return base64.StdEncoding.EncodeToString(b), note
	case len(b) > maxShownBody:
		return strings.ToValidUTF8(string(b[:maxShownBody]), ""), "Truncated: the admin API serves it whole."
	}
	return pretty(b), ""
}

// pretty indents JSON; anything else comes back as it is.
func pretty(b []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") == nil {
		return buf.String()
	}
	return string(b)
}

// clip bounds a caller-supplied value quoted in a message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
