package static

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/evanw/esbuild/pkg/api"
)

// assets are the scripts as Handler and EmbedScript serve them.
type assets struct {
	// scripts are the *.js files by name, minified.
	scripts map[string][]byte
	// embed is embed.js: chat.js built for the script-tag embed, with its
	// styles.
	embed []byte
}

// built minifies the scripts once per process: they are a pure function of
// the files embedded in the binary, so this is a constant computed late,
// not state. A script that does not build is a bug in this package's files,
// which its tests catch; serving it broken would hide it, so it panics.
var built = sync.OnceValue(func() assets {
	a, err := build()
	if err != nil {
		panic("static: " + err.Error())
	}
	return a
})

// scriptTarget is the oldest JavaScript the served scripts may use: the
// minifier writes nothing newer than the source's own syntax allows here
// (no ?., ??, or catch without a binding), for visitors' older browsers.
var scriptTarget = api.ES2017

// build minifies every script, and builds embed.js from chat.js.
//
// chat.js serves two kinds of page. PARLEY_EMBED is false in chat.js as
// Handler serves it (a page that renders the widget itself, with chat.css)
// and true in embed.js, where PARLEY_CSS holds the widget's styles for the
// shadow root it mounts in; the minifier drops the code of the other kind.
func build() (assets, error) {
	a := assets{scripts: map[string][]byte{}}
	names, err := fs.Glob(files, "*.js")
	if err != nil {
		return a, err
	}
	for _, name := range names {
		src, err := files.ReadFile(name)
		if err != nil {
			return a, err
		}
		if a.scripts[name], err = minifyScript(name, string(src), map[string]string{"PARLEY_EMBED": "false"}); err != nil {
			return a, err
		}
	}
	css, err := embedStyles()
	if err != nil {
		return a, err
	}
	quoted, err := json.Marshal(css)
	if err != nil {
		return a, err
	}
	chat, err := files.ReadFile("chat.js")
	if err != nil {
		return a, err
	}
	a.embed, err = minifyScript("embed.js", string(chat), map[string]string{"PARLEY_EMBED": "true", "PARLEY_CSS": string(quoted)})
	return a, err
}

// minifyScript minifies a script with define's globals replaced by values.
func minifyScript(name, src string, define map[string]string) ([]byte, error) {
	res := api.Transform(src, api.TransformOptions{
		Loader:            api.LoaderJS,
		Sourcefile:        name,
		Target:            scriptTarget,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		Define:            define,
		LegalComments:     api.LegalCommentsNone,
	})
	if len(res.Errors) > 0 {
		return nil, fmt.Errorf("minify %s: %s", name, describe(res.Errors))
	}
	return res.Code, nil
}

// embedStyles are the widget's styles for the embed's shadow root: chat.css
// with embed.css's rules for the shadow host, minified, without the popup
// window's rules (the embed never shows it). Lengths in rem are
// given in px (at the default 16 px), since rem is the host page's root
// font size, which sites often change (html { font-size: 62.5% }): the
// widget must look the same on every site.
func embedStyles() (string, error) {
	var src strings.Builder
	for _, name := range []string{"chat.css", "embed.css"} {
		b, err := files.ReadFile(name)
		if err != nil {
			return "", err
		}
		src.Write(b)
		src.WriteByte('\n')
	}
	css := popupRules.ReplaceAllString(src.String(), "")
	res := api.Transform(remToPx(css), api.TransformOptions{
		Loader:           api.LoaderCSS,
		Sourcefile:       "embed.css",
		MinifyWhitespace: true,
		MinifySyntax:     true,
	})
	if len(res.Errors) > 0 {
		return "", fmt.Errorf("minify embed styles: %s", describe(res.Errors))
	}
	return strings.TrimSpace(string(res.Code)), nil
}

var (
	remLength  = regexp.MustCompile(`(\d*\.?\d+)rem\b`)
	popupRules = regexp.MustCompile(`(?m)^\.parley-popup[^{]*\{[^}]*\}\n?`)
)

// remToPx writes every length in rem in px, at 16 px to the rem.
func remToPx(css string) string {
	return remLength.ReplaceAllStringFunc(css, func(m string) string {
		n, err := strconv.ParseFloat(strings.TrimSuffix(m, "rem"), 64)
		if err != nil {
			return m
		}
		return strconv.FormatFloat(n*16, 'f', -1, 64) + "px"
	})
}

func describe(msgs []api.Message) string {
	var b strings.Builder
	for i, m := range msgs {
		if i > 0 {
			b.WriteString("; ")
		}
		if m.Location != nil {
			fmt.Fprintf(&b, "%s:%d:%d: ", m.Location.File, m.Location.Line, m.Location.Column)
		}
		b.WriteString(m.Text)
	}
	return b.String()
}
