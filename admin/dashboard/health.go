package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/store"
)

// activityStore is the store's health query (store.DB implements it). A
// store without it (an embedder's own) shows no counts.
type activityStore interface {
	Activity(ctx context.Context, connections []string, since time.Time, step time.Duration, buckets int) (store.Activity, error)
}

// window is a span the overview can show: its chart has Buckets bars of
// Step each.
type window struct {
	Name    string
	Step    time.Duration
	Buckets int
	Per     string // the step, in words
}

var windows = []window{
	{"1h", time.Minute, 60, "minute"},
	{"24h", 30 * time.Minute, 48, "30 minutes"},
	{"7d", 3 * time.Hour, 56, "3 hours"},
}

func windowNamed(name string) window {
	for _, w := range windows {
		if w.Name == name {
			return w
		}
	}
	return windows[0]
}

func (w window) span() time.Duration { return w.Step * time.Duration(w.Buckets) }

// category groups statuses for the health view and the chart.
type category int

const (
	catDelivered category = iota // acknowledged
	catPending                   // received, dispatched, failed: still trying
	catDead
	catRejected
	catOther // filtered, duplicate, held, handshake
	numCategories
)

var categoryNames = [numCategories]string{"delivered", "pending", "dead", "rejected", "other"}

func categoryOf(s hookgate.Status) category {
	switch s {
	case hookgate.StatusAcknowledged:
		return catDelivered
	case hookgate.StatusReceived, hookgate.StatusDispatched, hookgate.StatusFailed:
		return catPending
	case hookgate.StatusDead:
		return catDead
	case hookgate.StatusRejected:
		return catRejected
	}
	return catOther
}

// circuit is a handler's circuit breaker as GET /api/v1/handlers shows it
// (SPEC §6). HandlerInfo carries it once the breaker exists; until then
// it is absent and the dashboard shows none.
type circuit struct {
	State               string `json:"state"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	// Times are shown as the API gives them (null when unset).
	OpenedAt any `json:"opened_at"`
	RetryAt  any `json:"retry_at"`
}

// handlerView is a handler with its circuit, read through its JSON so that
// whatever HandlerInfo carries is shown.
type handlerView struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Circuit *circuit `json:"circuit"`
}

func (d *Dashboard) handlers() []handlerView {
	b, err := json.Marshal(d.gw.Handlers())
	var out []handlerView
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		d.logger.Error("dashboard: handlers", "err", err)
	}
	return out
}

// connectionHealth is one row of the overview.
type connectionHealth struct {
	Type, Name   string
	Enabled      bool
	Paused       bool
	Counts       [numCategories]int64
	Accepted     int64 // every receipt that passed verification
	LastReceipt  *hookgate.Receipt
	Handlers     []handlerView
	OpenCircuits int
	// CountsUnknown: the store does not report activity.
	CountsUnknown bool
	// Rates per minute over the window, as shown.
	AcceptedRate, RejectedRate, DeadRate string
}

// chart is the delivery-health chart, drawn server-side as SVG.
type chart struct {
	Width, Height int
	Bars          []bar
	Max           int64
	Labels        []axisLabel
	Legend        []string
}

type bar struct {
	X, Width float64
	Parts    []barPart
	Title    string
}

type barPart struct {
	Y, Height float64
	Class     string
}

type axisLabel struct {
	X    float64
	Text string
}

// overviewPage is GET /.
type overviewPage struct {
	base
	Window      window
	Windows     []window
	Connections []connectionHealth
	Handlers    []handlerView
	Chart       chart
	Totals      [numCategories]int64
	Note        string
}

func (d *Dashboard) overviewData(ctx context.Context, win window) (overviewPage, error) {
	now := d.now()
	// Buckets end at the next boundary after now, so the last bar is the
	// current step.
	end := now.Truncate(win.Step).Add(win.Step)
	since := end.Add(-win.span())
	conns := d.gw.Connections()
	slices.SortFunc(conns, func(a, b *hookgate.Connection) int { return strings.Compare(a.Name, b.Name) })
	hs := d.handlers()
	byName := map[string]handlerView{}
	for _, h := range hs {
		byName[h.Name] = h
	}
	page := overviewPage{Window: win, Windows: windows, Handlers: hs}
	names := make([]string, len(conns))
	rows := make([]connectionHealth, len(conns))
	index := map[string]int{}
	for i, c := range conns {
		names[i], index[c.Name] = c.Name, i
		row := connectionHealth{Type: c.Type, Name: c.Name, Enabled: c.IsEnabled(), Paused: c.Paused}
		seen := map[string]bool{}
		for _, rt := range c.Routes {
			for _, h := range rt.Handlers {
				if seen[h] {
					continue
				}
				seen[h] = true
				hv, ok := byName[h]
				if !ok {
					hv = handlerView{Name: h}
				}
				if hv.Circuit != nil && hv.Circuit.State != "closed" {
					row.OpenCircuits++
				}
				row.Handlers = append(row.Handlers, hv)
			}
		}
		// The newest receipt, through the listing the search page uses.
		rs, _, err := d.gw.Store().Receipts(ctx, hookgate.ReceiptFilter{Connection: c.Name, Limit: 1})
		if err != nil {
			return page, fmt.Errorf("newest receipt of %s: %w", c.Name, err)
		}
		if len(rs) == 1 {
			row.LastReceipt = rs[0]
		}
		rows[i] = row
	}
	perBucket := make([][numCategories]int64, win.Buckets)
	if as, ok := d.gw.Store().(activityStore); ok {
		act, err := as.Activity(ctx, names, since, win.Step, win.Buckets)
		if err != nil {
			return page, err
		}
		for i, b := range act.Buckets {
			for st, n := range b {
				perBucket[i][categoryOf(st)] += n
				page.Totals[categoryOf(st)] += n
			}
		}
		for name, m := range act.Connections {
			for st, n := range m {
				rows[index[name]].Counts[categoryOf(st)] += n
			}
		}
	} else {
		page.Note = "This store does not report activity: counts and the chart are unavailable."
		for i := range rows {
			rows[i].CountsUnknown = true
		}
	}
	minutes := win.span().Minutes()
	for i := range rows {
		r := &rows[i]
		r.Accepted = r.Counts[catDelivered] + r.Counts[catPending] + r.Counts[catDead] + r.Counts[catOther]
		r.AcceptedRate = perMinute(r.Accepted, minutes)
		r.RejectedRate = perMinute(r.Counts[catRejected], minutes)
		r.DeadRate = perMinute(r.Counts[catDead], minutes)
	}
	page.Connections = rows
	page.Chart = drawChart(perBucket, since, win)
	return page, nil
}

func perMinute(n int64, minutes float64) string {
	if n == 0 {
		return "0"
	}
	r := float64(n) / minutes
	if r >= 10 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.2g", r)
}

// drawChart lays out stacked bars, one per bucket, bottom to top in
// category order.
func drawChart(perBucket [][numCategories]int64, since time.Time, win window) chart {
	const width, height, top, bottom = 720, 180, 10, 20
	c := chart{Width: width, Height: height}
	for _, b := range perBucket {
		var sum int64
		for _, n := range b {
			sum += n
		}
		c.Max = max(c.Max, sum)
	}
	for i := range numCategories {
		c.Legend = append(c.Legend, categoryNames[i])
	}
	slot := float64(width) / float64(len(perBucket))
	plot := float64(height - top - bottom)
	for i, b := range perBucket {
		x := float64(i) * slot
		br := bar{X: round1(x + slot*0.1), Width: round1(slot * 0.8)}
		start := since.Add(time.Duration(i) * win.Step)
		var title []string
		y := float64(height - bottom)
		for cat, n := range b {
			if n == 0 || c.Max == 0 {
				continue
			}
			h := plot * float64(n) / float64(c.Max)
			y -= h
			br.Parts = append(br.Parts, barPart{Y: round1(y), Height: round1(h), Class: "c-" + categoryNames[cat]})
			title = append(title, fmt.Sprintf("%d %s", n, categoryNames[cat]))
		}
		if len(title) == 0 {
			title = []string{"nothing"}
		}
		br.Title = start.UTC().Format("15:04") + ": " + strings.Join(title, ", ")
		c.Bars = append(c.Bars, br)
		if i%(len(perBucket)/6) == 0 {
			label := start.UTC().Format("15:04")
			if win.Step >= time.Hour {
				label = start.UTC().Format("Jan 2 15h")
			}
			c.Labels = append(c.Labels, axisLabel{X: round1(x), Text: label})
		}
	}
	return c
}

func round1(f float64) float64 { return float64(int(f*10+0.5)) / 10 }
