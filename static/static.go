// Package static embeds what the browser runs: the chat widget's script and
// styles and the demo site's assets.
package static

import (
	"embed"
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
