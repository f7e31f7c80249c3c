package static

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"
)

// vendored pins each vendored library file. When re-vendoring, update this
// table and vendor/README.md together.
var vendored = []struct {
	file    string // path under vendor/
	pkg     string // npm package
	version string // npm version
	sha256  string // hex sha256 of the file
	marker  string // text the file must contain, naming its version
}{
	{
		file:    "htmx/htmx.min.js",
		pkg:     "htmx.org",
		version: "2.0.11",
		sha256:  "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
		marker:  `version:"2.0.11"`,
	},
	{
		file:    "turbo/turbo.es2017-umd.js",
		pkg:     "@hotwired/turbo",
		version: "8.0.23",
		sha256:  "f9e09e3a3093874fe56d5341ca3594ac959f8b097c9b6171a5b37838da3aec81",
		marker:  "Turbo 8.0.23\n",
	},
}

// TestVendoredChecksums fails when a vendored file no longer matches the
// pinned npm release it was copied from.
func TestVendoredChecksums(t *testing.T) {
	for _, v := range vendored {
		t.Run(v.file, func(t *testing.T) {
			data, err := vendorFiles.ReadFile("vendor/" + v.file)
			if err != nil {
				t.Fatalf("%s (%s@%s) is not embedded: %v", v.file, v.pkg, v.version, err)
			}
			sum := sha256.Sum256(data)
			if got := hex.EncodeToString(sum[:]); got != v.sha256 {
				t.Errorf("vendor/%s: sha256 %s, want %s (%s@%s); re-vendor it or update the table and vendor/README.md",
					v.file, got, v.sha256, v.pkg, v.version)
			}
			if !bytes.Contains(data, []byte(v.marker)) {
				t.Errorf("vendor/%s does not contain %q; is it really %s@%s?", v.file, v.marker, v.pkg, v.version)
			}
		})
	}
}

// TestVendoredLicenses checks that each vendored library ships its LICENSE.
func TestVendoredLicenses(t *testing.T) {
	for _, v := range vendored {
		name := "vendor/" + path.Dir(v.file) + "/LICENSE"
		data, err := vendorFiles.ReadFile(name)
		if err != nil {
			t.Errorf("%s (for %s@%s) is not embedded: %v", name, v.pkg, v.version, err)
			continue
		}
		if len(bytes.TrimSpace(data)) == 0 {
			t.Errorf("%s (for %s@%s) is empty", name, v.pkg, v.version)
		}
	}
}

// TestVendorServesHTMX checks that Vendor serves the embedded htmx as
// JavaScript with the day-long cache header.
func TestVendorServesHTMX(t *testing.T) {
	rec := httptest.NewRecorder()
	Vendor().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/htmx/htmx.min.js", nil))
	res := rec.Result()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /htmx/htmx.min.js: status %d, want %d", res.StatusCode, http.StatusOK)
	}
	if got := res.Header.Get("Content-Type"); !strings.Contains(got, "javascript") {
		t.Errorf("GET /htmx/htmx.min.js: Content-Type %q, want a JavaScript type", got)
	}
	if got, want := res.Header.Get("Cache-Control"), "public, max-age=86400"; got != want {
		t.Errorf("GET /htmx/htmx.min.js: Cache-Control %q, want %q", got, want)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	want, err := vendorFiles.ReadFile("vendor/htmx/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, want) {
		t.Errorf("GET /htmx/htmx.min.js: body is %d bytes, want the embedded %d bytes", len(body), len(want))
	}
}

// TestVendorOmitsReadme checks that the vendoring notes are not served.
func TestVendorOmitsReadme(t *testing.T) {
	rec := httptest.NewRecorder()
	Vendor().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/README.md", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /README.md: status %d, want %d", rec.Code, http.StatusNotFound)
	}
}
