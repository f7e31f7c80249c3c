package widget

import (
	"fmt"
	"testing"

	"github.com/parley/parley/localization"
)

// TestRecentPagesStayWithinTheirSize: past its size the cache drops the
// pages used least recently; a page of another catalog is a miss, and a
// page older than the one kept does not replace it.
func TestRecentPagesStayWithinTheirSize(t *testing.T) {
	en, ar := &localization.Catalog{}, &localization.Catalog{}
	pages := newRecentPages(300)
	page := func(id string, upTo int64) *recentPage {
		return &recentPage{chatID: id, catalog: en, upTo: upTo, size: 100}
	}
	pages.put(page("a", 1))
	pages.put(page("b", 1))
	pages.put(page("c", 1))
	if _, ok := pages.get("a", en); !ok { // a is now the most recently used
		t.Fatal("a page within the size is gone")
	}
	pages.put(page("d", 1))
	if _, ok := pages.get("b", en); ok {
		t.Error("the least recently used page stayed past the size")
	}
	for _, id := range []string{"a", "c", "d"} {
		if _, ok := pages.get(id, en); !ok {
			t.Errorf("page %s is gone, want it kept", id)
		}
	}
	if _, ok := pages.get("a", ar); ok {
		t.Error("a page rendered in one catalog was served for another")
	}
	pages.put(page("a", 5))
	pages.put(page("a", 3))
	if got, _ := pages.get("a", en); got.upTo != 5 {
		t.Errorf("the kept page is up to seq %d, want 5: an older page replaced a newer one", got.upTo)
	}
	if pages.bytes != 300 || pages.lru.Len() != 3 {
		t.Errorf("the cache counts %d bytes in %d pages, want 300 in 3", pages.bytes, pages.lru.Len())
	}
}

// TestRecentPagesCountPagesWithoutLines: a page with no line yet (a
// visitor still waiting) still counts against the cache's size, so such
// pages cannot pile up without limit.
func TestRecentPagesCountPagesWithoutLines(t *testing.T) {
	pages := newRecentPages(10 * recentPageOverhead)
	catalog := &localization.Catalog{}
	for i := range 100 {
		pages.put((&recentPage{chatID: fmt.Sprintf("%032x", i), catalog: catalog}).sized())
	}
	if n := pages.lru.Len(); n == 0 || n >= 10 {
		t.Errorf("100 pages without lines left %d in a cache of ten pages' overhead, want fewer than 10", n)
	}
}
