// Package static embeds what the browser runs: the chat widget's and the
// agent console's scripts and styles, and the vendored libraries that sites
// and tests use (vendor/).
package static

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed *.js *.css
var files embed.FS

// Handler serves the embedded files. They are cached briefly, since their
// URLs carry no version.
func Handler() http.Handler {
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		fileServer.ServeHTTP(w, r)
	})
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
