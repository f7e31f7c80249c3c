package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley/parley/chatclient"
)

// sourceAddr is the loopback address of client number i: 127.a.b.c with c
// in 1..254, from 127.1.0.1 on, so that each visitor comes from an address
// of its own as on the Internet, and Parley's per-address limits and the
// kernel's ephemeral ports per address are not shared.
func sourceAddr(i int) netip.Addr {
	const perB = 254
	c := 1 + i%perB
	b := (i / perB) % 256
	a := 1 + i/(perB*256)
	if a > 254 {
		a = 1 + a%254
	}
	return netip.AddrFrom4([4]byte{127, byte(a), byte(b), byte(c)})
}

// dialerFrom dials from local, as one browser on one machine does.
func dialerFrom(local netip.Addr) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: local.AsSlice()}, Timeout: 10 * time.Second}
}

// newBrowserClient is one browser's side of the site: its own cookies
// and keep-alive connections, from its own address.
func newBrowserClient(base string, local netip.Addr) *chatclient.Client {
	jar, _ := cookiejar.New(nil)
	dial := dialerFrom(local).DialContext
	return &chatclient.Client{
		Base: base,
		HTTP: &http.Client{
			Jar: jar,
			Transport: &http.Transport{
				DialContext:         dial,
				MaxIdleConnsPerHost: 2,
				IdleConnTimeout:     90 * time.Second,
				DisableCompression:  true,
				// Browsers keep one connection per long-poll and one for the rest.
				MaxConnsPerHost: 4,
			},
		},
		Dialer: websocket.Dialer{NetDialContext: dial, HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024},
	}
}

// errKind sorts an error for the report's error counts.
func errKind(err error) string {
	var se *chatclient.StatusError
	switch {
	case errors.As(err, &se):
		return strconv.Itoa(se.Status)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "reset"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too-many-files"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "no-port"
	case errors.Is(err, chatclient.ErrNoAck):
		return "no-ack"
	case errors.Is(err, errRefusedFrame):
		return "error-frame"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "other"
}

// errRefusedFrame is a message the server answered with an error frame.
var errRefusedFrame = errors.New("the server refused the frame")
