package live

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/live/wire"
	"github.com/parley/parley/handlers/web"
)

// pollWait is how long a poll waits for news before answering empty;
// under the usual 30 s idle limits of proxies.
const pollWait = 25 * time.Second

// closingRetryAfter is how long a client told that the server is shutting
// down waits before it polls again: a restart's time, or a load balancer's
// to send it elsewhere.
const closingRetryAfter = 2 * time.Second

// Poll is the long-poll fallback's receive side: it answers at once with
// what the client has missed, or waits for the next event.
func (t *Transports) Poll(c echo.Context) error {
	chat, news, err := t.transportChat(c)
	if err != nil {
		return err
	}
	after, err := strconv.ParseInt(c.QueryParam("after"), 10, 64)
	if err != nil {
		return web.ErrInvalidOptions()
	}
	release, err := t.limits.acquire(chat.ID, t.ClientKey(c.Request()))
	if err != nil {
		return err
	}
	defer release()
	return t.LongPoll(c, t.newVisitorFeed(c, chat, news), after)
}

// LongPoll answers one poll of f from after.
func (t *Transports) LongPoll(c echo.Context, f Feed, after int64) error {
	select {
	case <-t.closing:
		return refuseClosing(c)
	default:
	}
	ctx := c.Request().Context()
	disconnected := f.Connect()
	defer disconnected()
	// Polls are the client's presence: end each before the heartbeat is due.
	wait := min(pollWait, f.Heartbeat())

	// Subscribe before reading the log, so an event committed in between is
	// not missed.
	sub := f.Subscribe(t.chats.Hub(), 1)
	defer sub.Close()
	frames, err := f.Resume(ctx, after)
	if err != nil {
		return err
	}
	if len(frames) > 1 || !*frames[0].Recovered {
		// A poll with something to answer needs no place to wait in.
		return c.JSON(http.StatusOK, wire.Poll{Frames: frames})
	}
	shed, unpark, err := t.limits.park(t.ClientKey(c.Request()))
	if err != nil {
		return err
	}
	defer unpark()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	// woke is the event that ended the wait, if one did: its frame is
	// delivered with this answer.
	var woke *chatstate.Event
	select {
	case woke = <-sub.Events():
	case <-timer.C:
	case <-shed:
		// Its place went to another address's poll: the client polls
		// again, as after a wait with no news.
	case <-ctx.Done():
		return nil
	case <-t.closing:
		return refuseClosing(c)
	}
	if woke == nil {
		// Nothing was committed since the log was read, or the
		// subscription would have said so: no need to read it again.
		return c.JSON(http.StatusOK, wire.Poll{Frames: []wire.Server{}})
	}
	frames, err = f.Resume(ctx, after)
	if err != nil {
		return err
	}
	if len(frames) == 1 && *frames[0].Recovered {
		frames = []wire.Server{}
	}
	if err := c.JSON(http.StatusOK, wire.Poll{Frames: frames}); err != nil {
		return err
	}
	if len(frames) > 0 {
		t.metrics.Delivered(web.TransportHTTP, woke.Published)
	}
	return nil
}

// refuseClosing answers a poll while the server shuts down: an empty
// answer would have the client poll again at once, in a loop, until the
// server is gone.
func refuseClosing(c echo.Context) error {
	c.Response().Header().Set("Retry-After", strconv.Itoa(int(closingRetryAfter/time.Second)))
	return web.ErrServerClosing()
}

// PostFrame is the long-poll fallback's send side: one client frame in,
// its answers out.
func (t *Transports) PostFrame(c echo.Context) error {
	received := time.Now()
	chat, news, err := t.transportChat(c)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(c.Request().Body, maxFrameBytes+1))
	if err != nil {
		return web.ErrInvalidOptions()
	}
	feed := t.newVisitorFeed(c, chat, news)
	if len(data) > maxFrameBytes {
		return c.JSON(http.StatusOK, wire.Poll{Frames: []wire.Server{feed.ErrorFrame(c.Request().Context(), "", web.ErrMessageTooLong())}})
	}
	frame, err := decodeFrame(data)
	if err != nil {
		return err
	}
	frames := feed.HandleFrame(c.Request().Context(), frame)
	if frames == nil {
		frames = []wire.Server{}
	}
	if err := c.JSON(http.StatusOK, wire.Poll{Frames: frames}); err != nil {
		return err
	}
	for _, f := range frames {
		if f.Type == wire.TypeAck {
			t.metrics.Acked(web.TransportHTTP, received)
		}
	}
	return nil
}
