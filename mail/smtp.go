package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Server is an SMTP server to send through, as ParseURL reads it.
type Server struct {
	Host string
	Port int
	// ImplicitTLS is smtps://: TLS from the first byte. Otherwise the
	// connection starts plain and is upgraded with STARTTLS, which is
	// required unless Host is this machine (a relay or a test catcher
	// there need not offer it).
	ImplicitTLS bool
	Username    string
	Password    string
	// dialAddr, when set, is where to connect instead of Host:Port: a
	// test's server on this machine, reached under another host name.
	dialAddr string
}

// ParseURL reads an SMTP server's URL: smtp://[user[:password]@]host[:port]
// (port 587 by default, STARTTLS required unless host is a loopback
// address or "localhost") or smtps://… (port 465 by default, implicit TLS).
// The user and password are URL-encoded ("%40" for "@"). Errors never
// repeat the password.
func ParseURL(raw string) (Server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's errors quote the whole URL, password and all.
		return Server{}, errors.New("SMTP URL: not a URL: want smtp://user:password@host:587 or smtps://…")
	}
	var s Server
	switch u.Scheme {
	case "smtp":
		s.Port = 587
	case "smtps":
		s.Port, s.ImplicitTLS = 465, true
	default:
		return Server{}, fmt.Errorf("SMTP URL %s: want the scheme smtp:// (STARTTLS) or smtps:// (TLS)", u.Redacted())
	}
	s.Host = u.Hostname()
	if s.Host == "" {
		return Server{}, fmt.Errorf("SMTP URL %s: no host", u.Redacted())
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Server{}, fmt.Errorf("SMTP URL %s: bad port", u.Redacted())
		}
		s.Port = n
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return Server{}, fmt.Errorf("SMTP URL %s: want no path, query or fragment", u.Redacted())
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
		if s.Username == "" {
			return Server{}, fmt.Errorf("SMTP URL %s: a password without a user", u.Redacted())
		}
	}
	return s, nil
}

// Loopback reports whether the server is on this machine, where its
// connection need not be encrypted.
func (s Server) Loopback() bool {
	if s.Host == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(s.Host)
	return err == nil && addr.IsLoopback()
}

// batchKey carries a batch's context to the dialer, whose own context
// ends once the connection is made (see dialer).
type batchKey struct{}

// withBatch marks ctx as the life of the connections dialed under it.
func withBatch(ctx context.Context) context.Context {
	return context.WithValue(ctx, batchKey{}, ctx)
}

// client builds the go-mail client for s. timeout bounds each exchange
// with the server; tlsConfig (nil: the system's roots) checks its
// certificate, for s.Host.
func (s Server) client(timeout time.Duration, tlsConfig *tls.Config) (*gomail.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if tlsConfig != nil {
		cfg = tlsConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.Host
	}
	opts := []gomail.Option{
		gomail.WithPort(s.Port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(cfg),
		gomail.WithDialContextFunc(dialer(s.ImplicitTLS, cfg, s.dialAddr)),
	}
	// WithTLSPolicy, not WithTLSPortPolicy: the latter may fall back to
	// port 25 in the clear.
	switch {
	case s.ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case s.Loopback():
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.Username != "" {
		// The strongest mechanism the server offers. go-mail sends PLAIN
		// and LOGIN only over TLS or to localhost.
		opts = append(opts, gomail.WithUsername(s.Username), gomail.WithPassword(s.Password),
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256PLUS, gomail.SMTPAuthSCRAMSHA256,
				gomail.SMTPAuthSCRAMSHA1PLUS, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5,
				gomail.SMTPAuthPlain, gomail.SMTPAuthLogin))
	}
	c, err := gomail.NewClient(s.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP client: %w", err)
	}
	return c, nil
}

// dialer connects to the server, in TLS from the first byte when
// implicitTLS is set, and ties the connection to its batch: go-mail bounds
// each exchange with its timeout but knows no context once dialed, and a
// sender being stopped must not wait out a stuck server.
func dialer(implicitTLS bool, cfg *tls.Config, dialAddr string) gomail.DialContextFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dialAddr != "" {
			addr = dialAddr
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if implicitTLS {
			tc := tls.Client(conn, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			// go-mail reads a *tls.Conn as an encrypted connection.
			conn = tc
		}
		if batch, ok := ctx.Value(batchKey{}).(context.Context); ok {
			context.AfterFunc(batch, func() { conn.Close() })
		}
		return conn, nil
	}
}
