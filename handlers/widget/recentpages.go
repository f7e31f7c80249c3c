package widget

import (
	"container/list"
	"context"
	"sync"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/localization"
	"github.com/parley/parley/views"
)

// recentPagesBytes bounds what the cache of rendered pages holds: the
// latest page of about 2,500 chats.
const recentPagesBytes = 32 << 20

// recentPageOverhead is what a cached page costs beside its lines: the
// list element, the map entry and the page itself.
const recentPageOverhead = 256

// recentPages keeps, for the chats restored lately, the latest page of the
// transcript as rendered with one catalog. A logged line never changes, so
// a reload renders, and reads from the store, only the lines logged since.
// Reading and rendering the same 50 lines on every page was two thirds of
// a restore's CPU. Every instance may keep its own: a page is only ever
// extended with lines read from the log, up to the seq that a fresh read
// of the chat says.
type recentPages struct {
	mu       sync.Mutex
	maxBytes int
	bytes    int
	lru      *list.List // of *recentPage, the most recently used first
	byChat   map[string]*list.Element
}

// recentPage is a chat's latest lines up to seq upTo of its log, as
// rendered with catalog. Requests share it, so it never changes once cached.
type recentPage struct {
	chatID  string
	catalog *localization.Catalog
	upTo    int64
	earlier bool
	lines   []views.Line // each with its HTML
	size    int
}

func newRecentPages(maxBytes int) *recentPages {
	return &recentPages{maxBytes: maxBytes, lru: list.New(), byChat: map[string]*list.Element{}}
}

// get returns chat id's page if it was rendered with catalog.
func (p *recentPages) get(id string, catalog *localization.Catalog) (*recentPage, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el, ok := p.byChat[id]
	if !ok {
		return nil, false
	}
	page := el.Value.(*recentPage)
	if page.catalog != catalog {
		return nil, false
	}
	p.lru.MoveToFront(el)
	return page, true
}

// put keeps page in place of an older one of its chat, dropping the
// least recently used pages past the cache's size.
func (p *recentPages) put(page *recentPage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if el, ok := p.byChat[page.chatID]; ok {
		old := el.Value.(*recentPage)
		if old.catalog == page.catalog && old.upTo > page.upTo {
			return // a later request got further
		}
		p.bytes -= old.size
		el.Value = page
		p.lru.MoveToFront(el)
	} else {
		p.byChat[page.chatID] = p.lru.PushFront(page)
	}
	p.bytes += page.size
	for p.bytes > p.maxBytes && p.lru.Len() > 1 {
		last := p.lru.Back()
		gone := p.lru.Remove(last).(*recentPage)
		delete(p.byChat, gone.chatID)
		p.bytes -= gone.size
	}
}

// recentLines returns chat's latest page of lines up to its LastSeq, each
// with its HTML, and whether earlier lines exist.
func (vw *Widget) recentLines(ctx context.Context, tr *localization.Catalog, chat chatstate.Chat) ([]views.Line, bool, error) {
	cached, ok := vw.pages.get(chat.ID, tr)
	if ok && cached.upTo == chat.LastSeq {
		return cached.lines, cached.earlier, nil
	}
	var (
		lines   []views.Line
		earlier bool
		events  []chatstate.Event
		err     error
	)
	if ok && cached.upTo < chat.LastSeq && chat.LastSeq-cached.upTo <= MaxReplay {
		// Seqs have no gaps: these are the events since the cached page.
		events, err = vw.chats.EventsAfter(ctx, chat.ID, cached.upTo, int(chat.LastSeq-cached.upTo))
		lines, earlier = cached.lines, cached.earlier
	} else {
		events, earlier, err = vw.chats.RecentLines(ctx, chat.ID, chat.LastSeq, transcriptPageLines)
	}
	if err != nil {
		return nil, false, err
	}
	page := &recentPage{chatID: chat.ID, catalog: tr, upTo: chat.LastSeq, earlier: earlier}
	page.lines = append(make([]views.Line, 0, len(lines)+len(events)), lines...)
	for _, ev := range events {
		if ev.Seq > chat.LastSeq {
			break
		}
		line, ok := LineView(tr, ev)
		if !ok {
			continue
		}
		if line.HTML, err = vw.RenderString(ctx, views.TranscriptLine(line)); err != nil {
			return nil, false, err
		}
		page.lines = append(page.lines, line)
	}
	if extra := len(page.lines) - transcriptPageLines; extra > 0 {
		page.lines, page.earlier = page.lines[extra:], true
	}
	vw.pages.put(page.sized())
	return page.lines, page.earlier, nil
}

// sized counts what p holds, for the cache's bound. Every page costs its
// bookkeeping too, so that pages without lines (a visitor still waiting)
// do not pile up without limit.
func (p *recentPage) sized() *recentPage {
	p.size = recentPageOverhead + len(p.chatID)
	for _, l := range p.lines {
		p.size += len(l.HTML) + len(l.Text) + len(l.Author) + len(l.From) + 64
	}
	return p
}
