// Package static embeds what the browser runs: the chat widget's and the
// agent console's scripts and styles, and the vendored libraries that sites
// and tests use (vendor/).
package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

//go:embed *.js *.css
var files embed.FS

// Handler serves the embedded files. They are cached briefly, since their
// URLs carry no version, and revalidated by ETag. Scripts are served
// minified (see built): the source keeps its comments and names, the
// browser downloads none of them.
func Handler() http.Handler {
	fileServer := http.FileServerFS(files)
	scripts := built().scripts
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		script, ok := scripts[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			fileServer.ServeHTTP(w, r)
			return
		}
		serveScript(w, r, script)
	})
}

// EmbedScript serves embed.js, the widget for a page of another site (the
// script-tag embed): chat.js built for a shadow root on a page that is not
// Parley's, with the widget's styles inside it, so that the page loads one
// script and nothing else but the widget's HTML. It is the same for every
// site and visitor: public, cacheable, readable by any page.
func EmbedScript() http.Handler {
	script := built().embed
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=300")
		// A page may load it with crossorigin (for error details) or under
		// Cross-Origin-Embedder-Policy.
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		serveScript(w, r, script)
	})
}

func serveScript(w http.ResponseWriter, r *http.Request, script []byte) {
	sum := sha256.Sum256(script)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(script))
}

// Has reports whether Handler serves a file of that name, like "chat.js".
func Has(name string) bool {
	info, err := fs.Stat(files, name)
	return err == nil && !info.IsDir()
}

// vendorFiles holds third-party browser libraries copied unmodified from npm
// (see vendor/README.md). They are embedded apart from files so that Handler
// keeps serving only our own assets and vendor/README.md is not served.
//
//go:embed vendor/htmx vendor/turbo
var vendorFiles embed.FS

// vendorMaxAge is how long browsers may cache a vendored file. It is a day,
// not a year with "immutable": the URLs (e.g. htmx/htmx.min.js) carry no
// version, so after a re-vendor the old copy must expire on its own.
const vendorMaxAge = "public, max-age=86400"

// Vendor serves the vendored libraries at paths relative to the handler's
// mount point, such as htmx/htmx.min.js and turbo/turbo.es2017-umd.js, along
// with each library's LICENSE. Mount it under a prefix with
// http.StripPrefix.
func Vendor() http.Handler {
	sub, err := fs.Sub(vendorFiles, "vendor")
	if err != nil {
		// fs.Sub fails only for an invalid path name; "vendor" is valid.
		panic(err)
	}
	fileServer := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", vendorMaxAge)
		fileServer.ServeHTTP(w, r)
	})
}
