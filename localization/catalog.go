// Package localization owns the widget's strings: the embedded catalogs
// (English, German, Arabic), the extra catalogs fetched from URLs the server
// is configured with, and the choice of catalog for a request.
package localization

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/text/language"
)

// Text directions, as written in a catalog file and in the HTML dir attribute.
const (
	dirLTR = "ltr"
	dirRTL = "rtl"
)

// Catalog is one language's strings. Safe for concurrent use; immutable once built.
type Catalog struct {
	name     string
	tag      language.Tag
	dir      string
	messages map[string]string // never written after the catalog is built
}

// Name returns the source name: "en", "de", "ar", or a configured name like "fr".
func (c *Catalog) Name() string { return c.name }

// Lang returns the BCP 47 tag of the strings, for <html lang> or <div lang>, e.g. "fr".
func (c *Catalog) Lang() string { return c.tag.String() }

// Dir returns the text direction of the strings, "ltr" or "rtl", for the HTML dir attribute.
func (c *Catalog) Dir() string { return c.dir }

// T returns the string for key with {placeholder}s replaced from args, given
// as name, value pairs: T("error.message_too_long", "max", "2000"). An unknown
// key returns the key itself (never panics); a placeholder missing from args
// stays as written, and a trailing unpaired arg is ignored. Values are
// inserted as they are: escaping is the template's job.
func (c *Catalog) T(key string, args ...string) string {
	s, ok := c.messages[key]
	if !ok {
		return key
	}
	if len(args) < 2 || !strings.Contains(s, "{") {
		return s
	}
	var b strings.Builder
	for {
		before, name, after, found := cutPlaceholder(s)
		if !found {
			break
		}
		b.WriteString(before)
		if v, ok := arg(args, name); ok {
			b.WriteString(v)
		} else {
			b.WriteString("{" + name + "}")
		}
		// Continue after the placeholder, so a value that contains
		// "{name}" is never expanded again.
		s = after
	}
	b.WriteString(s)
	return b.String()
}

// withName returns a copy of c under another source name. The copy shares
// the messages map, which is safe because neither ever writes to it.
func (c *Catalog) withName(name string) *Catalog {
	cp := *c
	cp.name = name
	return &cp
}

// arg finds name's value among name, value pairs.
func arg(args []string, name string) (string, bool) {
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == name {
			return args[i+1], true
		}
	}
	return "", false
}

// cutPlaceholder finds the first {name} in s, where name is ASCII letters,
// digits and underscores. Other braces are literal text.
func cutPlaceholder(s string) (before, name, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			continue
		}
		j := i + 1
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		if j > i+1 && j < len(s) && s[j] == '}' {
			return s[:i], s[i+1 : j], s[j+1:], true
		}
	}
	return s, "", "", false
}

func isNameByte(b byte) bool {
	return b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// placeholders returns the distinct placeholder names in s, sorted.
func placeholders(s string) []string {
	var names []string
	for {
		_, name, after, found := cutPlaceholder(s)
		if !found {
			break
		}
		names = append(names, name)
		s = after
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// catalogFile is the JSON format of an embedded catalog and of what a
// configured URL serves.
type catalogFile struct {
	Language  string            `json:"language"`
	Direction string            `json:"direction"`
	Messages  map[string]string `json:"messages"`
}

// parseReport lists what parseCatalog repaired with English strings.
type parseReport struct {
	Missing    []string // keys absent or blank, sorted
	Mismatched []string // keys whose placeholders differ from English, sorted
}

// parseCatalog reads a catalog file for the source called name. The file
// must be a JSON object with a "messages" object of strings; "direction" is
// ltr or rtl (default ltr); "language" is a BCP 47 tag, or when absent the
// source name must be one.
//
// With en nil, the file is the reference catalog and its keys are the keys.
// Otherwise the result has exactly en's keys: unknown keys are ignored, and
// a key that is missing, blank, or whose {placeholders} differ from the
// English string's gets the English string, as the report says.
func parseCatalog(name string, data []byte, en *Catalog) (*Catalog, parseReport, error) {
	var rep parseReport
	var f catalogFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, rep, fmt.Errorf("not a catalog: %w", err)
	}
	if f.Messages == nil {
		return nil, rep, errors.New(`not a catalog: no "messages" object`)
	}

	dir := strings.ToLower(f.Direction)
	switch dir {
	case "":
		dir = dirLTR
	case dirLTR, dirRTL:
	default:
		return nil, rep, fmt.Errorf("direction %q is neither ltr nor rtl", f.Direction)
	}

	var tag language.Tag
	if f.Language != "" {
		t, err := language.Parse(f.Language)
		if err != nil {
			return nil, rep, fmt.Errorf("language %q is not a BCP 47 tag: %w", f.Language, err)
		}
		tag = t
	} else {
		t, err := language.Parse(name)
		if err != nil {
			return nil, rep, fmt.Errorf("no language given, and source name %q is not a BCP 47 tag", name)
		}
		tag = t
	}

	c := &Catalog{name: name, tag: tag, dir: dir}
	if en == nil {
		if len(f.Messages) == 0 {
			return nil, rep, errors.New("reference catalog has no messages")
		}
		c.messages = f.Messages
		return c, rep, nil
	}

	c.messages = make(map[string]string, len(en.messages))
	for key, english := range en.messages {
		s, ok := f.Messages[key]
		switch {
		case !ok || strings.TrimSpace(s) == "":
			rep.Missing = append(rep.Missing, key)
			s = english
		case !slices.Equal(placeholders(s), placeholders(english)):
			rep.Mismatched = append(rep.Mismatched, key)
			s = english
		}
		c.messages[key] = s
	}
	slices.Sort(rep.Missing)
	slices.Sort(rep.Mismatched)
	return c, rep, nil
}
