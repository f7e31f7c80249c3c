// Package mailtest runs a real SMTP server (github.com/emersion/go-smtp)
// inside a test, on a loopback port, and keeps every mail it accepted,
// parsed, for the test to assert on: never a mock of the client. A test
// can make it refuse (4xx or 5xx), go down and come back on the same
// port, or hold a mail's DATA until told, to play the faults a real
// server has.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Config is how a Server behaves; the zero Config is a plain server that
// takes any mail without a login.
type Config struct {
	// TLS, when set, offers STARTTLS with this certificate, or with
	// ImplicitTLS speaks TLS from the first byte (smtps://).
	TLS         *tls.Config
	ImplicitTLS bool
	// Username and Password, when set, are required (AUTH PLAIN) before a
	// mail is taken.
	Username, Password string
}

// Mail is a mail the server accepted.
type Mail struct {
	// From and To are the envelope's (MAIL FROM, RCPT TO).
	From string
	To   []string
	// Header is the mail's header; MessageID and Subject are decoded
	// from it (MessageID without its angle brackets).
	Header    netmail.Header
	MessageID string
	Subject   string
	// Text and HTML are the decoded bodies of its text/plain and
	// text/html parts.
	Text, HTML string
	// Raw is the mail as it came.
	Raw []byte
	// TLS and User say how the session that sent it was held.
	TLS  bool
	User string
}

// Server is an SMTP server for one test.
type Server struct {
	cfg  Config
	addr string
	tb   testing.TB

	mu     sync.Mutex
	mails  []Mail
	refuse *smtp.SMTPError
	// refuseRcpt refuses these recipients for good (550).
	refuseRcpt map[string]bool
	hold       chan struct{}
	held       chan struct{}
	// release lets a held DATA go on; Down calls it, so that no session
	// outlives the test.
	release func()
	srv     *smtp.Server
	arrived chan struct{}
}

// Start starts a server on a free loopback port; it stops when tb ends.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("mailtest: listen: %v", err)
	}
	s := &Server{cfg: cfg, addr: l.Addr().String(), tb: tb, refuseRcpt: map[string]bool{}, arrived: make(chan struct{}, 1)}
	s.serve(l)
	tb.Cleanup(s.Down)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// URL is an SMTP URL of the server for mail.ParseURL, with the login
// when the server requires one.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.addr}
	if s.cfg.ImplicitTLS {
		u.Scheme = "smtps"
	}
	if s.cfg.Username != "" {
		u.User = url.UserPassword(s.cfg.Username, s.cfg.Password)
	}
	return u.String()
}

func (s *Server) serve(l net.Listener) {
	srv := smtp.NewServer(backend{s})
	srv.Domain = "mailtest.localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 4 << 20
	// Loopback only: a login in the clear harms nobody here.
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = true
	// Its errors are the faults the tests make (connections cut); a
	// goroutine of its own could also log after the test has ended.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if s.cfg.TLS != nil {
		srv.TLSConfig = s.cfg.TLS
		if s.cfg.ImplicitTLS {
			l = tls.NewListener(l, s.cfg.TLS)
		}
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// Down closes the listener and every open connection, as a server that
// went away: clients cannot connect until Up.
func (s *Server) Down() {
	s.mu.Lock()
	srv, release := s.srv, s.release
	s.srv = nil
	s.mu.Unlock()
	if release != nil {
		release()
	}
	if srv != nil {
		_ = srv.Close()
	}
}

// Up listens again on the same port after Down.
func (s *Server) Up() {
	s.tb.Helper()
	var (
		l   net.Listener
		err error
	)
	// The port was ours a moment ago; another process may hold it briefly.
	for range 50 {
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.tb.Fatalf("mailtest: listen again on %s: %v", s.addr, err)
	}
	s.serve(l)
}

// Refuse makes the server answer every MAIL FROM with code and text (a
// 4xx is "try again later", a 5xx "never"), until Accept.
func (s *Server) Refuse(code int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: text}
}

// Accept undoes Refuse.
func (s *Server) Accept() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = nil
}

// RefuseRecipient refuses mail to addr for good (550 at RCPT TO).
func (s *Server) RefuseRecipient(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseRcpt[strings.ToLower(addr)] = true
}

// HoldData makes the next mail's DATA wait, once its body has arrived,
// before the server takes it (and answers 250): Held is closed when it
// waits, and release lets it go on. A client that gives up meanwhile
// does not hear the 250, though the server keeps the mail, as a real
// server would.
func (s *Server) HoldData() (held <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold, s.held = make(chan struct{}), make(chan struct{})
	hold := s.hold
	var once sync.Once
	s.release = func() { once.Do(func() { close(hold) }) }
	return s.held, s.release
}

// Mails returns the mails accepted so far, in order.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Wait waits until n mails have been accepted, or fails tb after timeout.
func (s *Server) Wait(tb testing.TB, n int, timeout time.Duration) []Mail {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if mails := s.Mails(); len(mails) >= n {
			return mails
		}
		select {
		case <-s.arrived:
		case <-deadline.C:
			tb.Fatalf("mailtest: %d mails arrived in %v, want %d", len(s.Mails()), timeout, n)
			return nil
		}
	}
}

func (s *Server) keep(m Mail) {
	s.mu.Lock()
	s.mails = append(s.mails, m)
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, conn: c}, nil
}

type session struct {
	s    *Server
	conn *smtp.Conn
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.s.cfg.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != ss.s.cfg.Username || password != ss.s.cfg.Password {
			return smtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.s.mu.Lock()
	refuse := ss.s.refuse
	ss.s.mu.Unlock()
	if refuse != nil {
		return refuse
	}
	if ss.s.cfg.Username != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	refused := ss.s.refuseRcpt[strings.ToLower(to)]
	ss.s.mu.Unlock()
	if refused {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	hold, held := ss.s.hold, ss.s.held
	ss.s.hold, ss.s.held = nil, nil
	ss.s.mu.Unlock()
	if hold != nil {
		close(held)
		<-hold
	}
	m, err := parse(raw)
	if err != nil {
		ss.s.tb.Errorf("mailtest: a mail that does not parse: %v\n%s", err, raw)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unparsable"}
	}
	_, m.TLS = ss.conn.TLSConnectionState()
	m.From, m.To, m.User = ss.from, append([]string(nil), ss.to...), ss.user
	ss.s.keep(m)
	return nil
}

func (ss *session) Reset() {
	ss.from, ss.to = "", nil
}

func (ss *session) Logout() error { return nil }

// parse reads a mail's header and its text and HTML parts.
func parse(raw []byte) (Mail, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, err
	}
	m := Mail{Header: msg.Header, Raw: raw}
	m.MessageID = strings.Trim(msg.Header.Get("Message-Id"), "<>")
	var dec mime.WordDecoder
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Mail{}, fmt.Errorf("subject: %w", err)
	}
	if err := m.readPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body); err != nil {
		return Mail{}, err
	}
	if !strings.HasPrefix(msg.Header.Get("Content-Type"), "multipart/") {
		// A body alone ends with the line break that ends DATA's last
		// line, which is the transport's, not the text's.
		m.Text = strings.TrimSuffix(m.Text, "\r\n")
		m.HTML = strings.TrimSuffix(m.HTML, "\r\n")
	}
	return m, nil
}

// readPart reads a part into m: a text part by its type, a multipart by
// its parts. multipart.Reader decodes quoted-printable by itself.
func (m *Mail) readPart(contentType, encoding string, body io.Reader) error {
	media, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(media, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := m.readPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	b, err := decode(encoding, body)
	if err != nil {
		return err
	}
	switch media {
	case "text/plain":
		m.Text = string(b)
	case "text/html":
		m.HTML = string(b)
	}
	return nil
}

func decode(encoding string, body io.Reader) ([]byte, error) {
	switch strings.ToLower(encoding) {
	case "base64":
		return io.ReadAll(base64.NewDecoder(base64.StdEncoding, body))
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(body))
	default:
		return io.ReadAll(body)
	}
}

// Certificate makes a self-signed certificate for hosts (names or IPs),
// valid for an hour: the server's TLS config, and the pool a client trusts
// it by.
func Certificate(tb testing.TB, hosts ...string) (*tls.Config, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("mailtest: key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("mailtest: certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("mailtest: certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}, pool
}
