package main

import (
	"os"
	"strings"
	"testing"
)

// maxAdoptionLines is README's promise: a working chat in under 20 lines
// of the site's own code, Go and templ together.
const maxAdoptionLines = 20

// TestREADMEShowsThisExample holds README.md's "Add Parley to your Echo
// site" to this example: its Go block is, line for line, the marked part of
// main.go, and with its templ lines it stays under maxAdoptionLines. The
// install steps, in docs/embedding.md, name the templ go.mod pins, and
// its shutdown is the marked part of serve.
func TestREADMEShowsThisExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := between(t, string(readme), "## Add Parley to your Echo site\n", "\n## ")
	goBlock := between(t, section, "```go\n", "```\n")
	templBlock := between(t, section, "```templ\n", "```\n")

	main, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	marked := between(t, string(main), "// README.md \"Add Parley to your Echo site\": begin\n", "\t// README.md \"Add Parley to your Echo site\": end\n")
	var example []string
	for _, line := range strings.Split(strings.TrimSuffix(marked, "\n"), "\n") {
		example = append(example, strings.TrimPrefix(line, "\t"))
	}
	shown := strings.Split(strings.TrimSuffix(goBlock, "\n"), "\n")
	if strings.Join(shown, "\n") != strings.Join(example, "\n") {
		t.Errorf("README's Go block differs from main.go's marked lines:\nREADME:\n%s\nmain.go:\n%s",
			strings.Join(shown, "\n"), strings.Join(example, "\n"))
	}

	// The layout really has the two lines the README shows.
	layout, err := os.ReadFile("layout.templ")
	if err != nil {
		t.Fatal(err)
	}
	for _, component := range []string{"@chatAssets", "@chatWidget"} {
		if !strings.Contains(templBlock, component) || !strings.Contains(string(layout), component) {
			t.Errorf("%s: want it in README's templ lines and in layout.templ", component)
		}
	}

	// The templ it tells the site to install is the one Parley is built with.
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	pinned := strings.Fields(between(t, string(gomod), "\tgithub.com/a-h/templ ", "\n"))[0]
	embedding, err := os.ReadFile("../../docs/embedding.md")
	if err != nil {
		t.Fatal(err)
	}
	install := between(t, string(embedding), "### Install\n", "\n### ")
	if !strings.Contains(install, "github.com/a-h/templ/cmd/templ@"+pinned+" ") {
		t.Errorf("docs/embedding.md's templ install does not name go.mod's templ %s", pinned)
	}

	// The shutdown that docs/embedding.md shows is this example's.
	shutdown := between(t, string(embedding), "### Shutdown\n", "\n## ")
	shutdownShown := between(t, shutdown, "```go\n", "```\n")
	shutdownMarked := between(t, string(main), "\t// docs/embedding.md \"Shutdown\": begin\n", "\t// docs/embedding.md \"Shutdown\": end\n")
	var shutdownExample []string
	for _, line := range strings.Split(shutdownMarked, "\n") {
		shutdownExample = append(shutdownExample, strings.TrimPrefix(line, "\t"))
	}
	if got, want := shutdownShown, strings.Join(shutdownExample, "\n"); got != want {
		t.Errorf("docs/embedding.md's shutdown differs from main.go's marked lines:\ndocs:\n%s\nmain.go:\n%s", got, want)
	}

	lines := 0
	for _, line := range append(shown, strings.Split(strings.TrimSpace(templBlock), "\n")...) {
		if strings.TrimSpace(line) != "" {
			lines++
		}
	}
	if lines >= maxAdoptionLines {
		t.Errorf("the README's adoption takes %d lines of the site's code, want under %d", lines, maxAdoptionLines)
	}
}

// between returns the text of s after start and before the next end.
func between(t *testing.T, s, start, end string) string {
	t.Helper()
	_, after, ok := strings.Cut(s, start)
	if !ok {
		t.Fatalf("no %q", start)
	}
	before, _, ok := strings.Cut(after, end)
	if !ok {
		t.Fatalf("no %q after %q", end, start)
	}
	return before
}
