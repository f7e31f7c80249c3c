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
// compacted (compactScript): the source keeps its comments, the browser
// downloads none of them.
func Handler() http.Handler {
	fileServer := http.FileServerFS(files)
	scripts := map[string][]byte{}
	if names, err := fs.Glob(files, "*.js"); err == nil {
		for _, name := range names {
			src, _ := files.ReadFile(name)
			scripts[name] = compactScript(src)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		script, ok := scripts[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			fileServer.ServeHTTP(w, r)
			return
		}
		sum := sha256.Sum256(script)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(script))
	})
}

// compactScript drops a script's comment lines and indentation. It keeps
// every line break and every token, so it is safe for scripts that, like
// Parley's, have no multi-line strings or template literals.
func compactScript(src []byte) []byte {
	var out bytes.Buffer
	for line := range bytes.Lines(src) {
		line = bytes.TrimLeft(line, " \t")
		if bytes.HasPrefix(line, []byte("//")) || len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		out.Write(line)
	}
	return out.Bytes()
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
