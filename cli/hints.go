package cli

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/hookgate/hookgate/verify"
)

// unreachable is the one wording of "nothing answers at that address", with
// the flag that sets the address, for every command that talks to a server.
func unreachable(what, base, flag string, err error) error {
	return fmt.Errorf("%s at %s: %w (is hookgate serve running? see %s)", what, base, err, flag)
}

// adminStatusError words a non-2xx answer of the admin API; a 401 says how
// to give the token.
func adminStatusError(status int, code, message string) error {
	var err error
	if code != "" {
		err = fmt.Errorf("%d %s: %s", status, code, message)
	} else {
		err = fmt.Errorf("admin API answered %d", status)
	}
	if status == http.StatusUnauthorized {
		err = fmt.Errorf("%w (give the admin token with --token or HOOKGATE_ADMIN_TOKEN)", err)
	}
	return err
}

// noPreset words an unknown --type, suggesting the closest preset names.
func noPreset(typ string) error {
	msg := fmt.Sprintf("type %q has no preset", typ)
	if near := closestPresets(typ, 3); len(near) > 0 {
		msg += " (did you mean " + strings.Join(near, ", ") + "?)"
	}
	return fmt.Errorf("%s: give a known --type, or --auth for a scheme of your own", msg)
}

// missingSecret names the flag that carries the credential auth needs.
func missingSecret(auth string) error {
	switch auth {
	case "basic":
		return fmt.Errorf("auth %s needs a credential: give --basic USER:PASSWORD", auth)
	case "api_key":
		return fmt.Errorf("auth %s needs a credential: give --api-key KEY", auth)
	}
	return fmt.Errorf("auth %s needs a secret: give --secret SECRET", auth)
}

// closestPresets returns up to n preset types nearest to typ by edit
// distance, nearest first, leaving out those too far to be a typo.
func closestPresets(typ string, n int) []string {
	type cand struct {
		name string
		d    int
	}
	var cands []cand
	for _, p := range verify.Presets() {
		d := editDistance(strings.ToLower(typ), p.Type)
		if strings.Contains(p.Type, strings.ToLower(typ)) && len(typ) >= 3 {
			d = min(d, 1)
		}
		if d <= max(2, len(typ)/3) {
			cands = append(cands, cand{p.Type, d})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].d < cands[j].d })
	out := make([]string, 0, n)
	for i := 0; i < len(cands) && i < n; i++ {
		out = append(out, cands[i].name)
	}
	return out
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
