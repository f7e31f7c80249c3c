package localization

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/text/language"
)

// ErrNotAllowed is returned for a `localization` option that names neither an
// embedded catalog nor a configured source, nor equals a configured URL.
var ErrNotAllowed = errors.New("localization source not allowed")

// Resolve maps the client's `localization` option to a catalog: the name of
// an embedded catalog or of a configured source, or a URL exactly equal to a
// configured one. Anything else, "" included, is ErrNotAllowed. The server
// never fetches a URL a client sent: Resolve does no I/O.
func (c *Catalogs) Resolve(option string) (*Catalog, error) {
	if s, ok := c.byName[option]; ok {
		return s.catalog(), nil
	}
	if s, ok := c.byURL[option]; ok {
		return s.catalog(), nil
	}
	const max = 200 // the option is the client's; keep error logs short
	if len(option) > max {
		option = option[:max] + "…"
	}
	return nil, fmt.Errorf("%w: %q", ErrNotAllowed, option)
}

// Negotiate picks the catalog for a request: option first (Resolve; "" means
// no option), else the best match of the Accept-Language header among
// embedded catalogs and configured sources whose name is a language tag,
// else Default().
//
// When the option is not allowed, Negotiate returns ErrNotAllowed together
// with the catalog the header alone would pick, so the caller can still say
// so in the visitor's language.
func (c *Catalogs) Negotiate(option, acceptLanguage string) (*Catalog, error) {
	if option != "" {
		cat, err := c.Resolve(option)
		if err != nil {
			return c.match(acceptLanguage), err
		}
		return cat, nil
	}
	return c.match(acceptLanguage), nil
}

// match returns the catalog that best fits an Accept-Language header.
func (c *Catalogs) match(acceptLanguage string) *Catalog {
	prefs := parseAcceptLanguage(acceptLanguage)
	if len(prefs) == 0 {
		return c.def
	}
	_, i, conf := c.matcher.Match(prefs...)
	if conf < language.High {
		return c.def
	}
	return c.negotiable[i].catalog()
}

// maxPreferences bounds the work one Accept-Language header can cause.
const maxPreferences = 16

// parseAcceptLanguage returns the header's languages, most preferred first.
// Unlike language.ParseAcceptLanguage, which gives up on the whole header
// when one tag is unknown, it skips entries it cannot read; it also drops
// q=0 ("not acceptable") and the wildcard.
func parseAcceptLanguage(header string) []language.Tag {
	type pref struct {
		tag language.Tag
		q   float64
	}
	var prefs []pref
	for entry := range strings.SplitSeq(header, ",") {
		if len(prefs) == maxPreferences {
			break
		}
		name, params, _ := strings.Cut(entry, ";")
		name = strings.TrimSpace(name)
		if name == "" || name == "*" {
			continue
		}
		q, ok := quality(params)
		if !ok || q <= 0 {
			continue
		}
		tag, err := language.Parse(name)
		if err != nil {
			continue
		}
		prefs = append(prefs, pref{tag, q})
	}
	// Stable, so equal weights keep the header's order.
	slices.SortStableFunc(prefs, func(a, b pref) int {
		return cmp.Compare(b.q, a.q)
	})
	tags := make([]language.Tag, len(prefs))
	for i, p := range prefs {
		tags[i] = p.tag
	}
	return tags
}

// quality reads the q parameter of an Accept-Language entry; absent is 1.
func quality(params string) (float64, bool) {
	q := 1.0
	for param := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(param, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(f >= 0 && f <= 1) { // also rejects NaN
			return 0, false
		}
		q = f
	}
	return q, true
}
