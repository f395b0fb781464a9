package sip

// SIP over TLS (RFC 3261 §26.2, RFC 5630).
//
//   - Serving: ServeTLS does the handshake itself over a plain TCP listener, with the
//     certificate of Config.TLS (TLS 1.2 or later, Go's default cipher suites), then hands
//     the decrypted stream to sipgo's TLS transport behind the same edges as TCP (per-source
//     cap, read and idle timeouts: edges.go). ReloadTLS swaps the certificate for new
//     handshakes.
//   - Calling: trunks whose URI is sips: or has ;transport=tls are dialled over TLS. The
//     carrier's certificate is verified against the system roots, plus the trunk's tls_ca
//     (a private CA), which is trusted for that trunk's host only.
//   - In-dialog requests reuse the connection the dialog started on (sipgo would otherwise
//     dial the far end's Contact: TELEPHONY.md).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// TLSConfig turns on SIP over TLS. The zero value leaves it off; otherwise all three
// fields are required.
type TLSConfig struct {
	// Listen is the host:port ServeTLS is given a listener for (by `hotline serve`), e.g.
	// "0.0.0.0:5061".
	Listen string `mapstructure:"listen"`
	// Cert is a PEM file holding the server certificate, followed by any intermediate
	// certificates, leaf first.
	Cert string `mapstructure:"cert"`
	// Key is a PEM file holding the certificate's private key (PKCS #1, PKCS #8 or SEC 1,
	// unencrypted).
	Key string `mapstructure:"key"`
}

func (c TLSConfig) enabled() bool { return c != TLSConfig{} }

// validate checks the keys and loads the pair, so that `hotline validate` reports a
// missing file, a file holding no PEM, or a key that is not the certificate's.
func (c TLSConfig) validate() error {
	if !c.enabled() {
		return nil
	}
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("sip.tls.listen: required when sip.tls is set (e.g. 0.0.0.0:5061)"))
	} else if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("sip.tls.listen: %q: %w", c.Listen, err))
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		errs = append(errs, fmt.Errorf("sip.tls.listen: %q: bad port", c.Listen))
	}
	if c.Cert == "" {
		errs = append(errs, errors.New("sip.tls.cert: required when sip.tls is set (a PEM certificate file)"))
	}
	if c.Key == "" {
		errs = append(errs, errors.New("sip.tls.key: required when sip.tls is set (a PEM private key file)"))
	}
	if c.Cert != "" && c.Key != "" {
		if _, err := loadPair(c.Cert, c.Key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// loadPair reads a certificate and its key; each error names the key at fault.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("sip.tls.cert: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("sip.tls.key: %w", err)
	}
	if _, err := parseCerts(certPEM); err != nil {
		return nil, fmt.Errorf("sip.tls.cert: %s: %w", certFile, err)
	}
	if !hasPEM(keyPEM, func(typ string) bool { return strings.HasSuffix(typ, "PRIVATE KEY") }) {
		return nil, fmt.Errorf("sip.tls.key: %s: no PEM \"PRIVATE KEY\" block", keyFile)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	switch {
	case err != nil && strings.Contains(err.Error(), "match"):
		return nil, fmt.Errorf("sip.tls.key: %s is not the private key of the certificate in %s (sip.tls.cert)", keyFile, certFile)
	case err != nil:
		return nil, fmt.Errorf("sip.tls.key: %s: %w", keyFile, err)
	}
	return &pair, nil
}

// parseCerts returns the certificates of the CERTIFICATE blocks in data: at least one.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM \"CERTIFICATE\" block")
	}
	return certs, nil
}

func hasPEM(data []byte, want func(typ string) bool) bool {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return false
		}
		if want(b.Type) {
			return true
		}
	}
}

// tlsServer is the serving side's state: the pair new handshakes get.
type tlsServer struct {
	cfg  TLSConfig
	cert atomic.Pointer[tls.Certificate]
}

// newTLS loads what Config.TLS and the trunks' TLS settings name: the serving state (nil
// when sip.tls is off) and the user agent option that sets how Hotline dials TLS.
func newTLS(cfg Config) (*tlsServer, sipgo.UserAgentOption, error) {
	client, err := clientTLSConfig(cfg.Trunks)
	if err != nil {
		return nil, nil, err
	}
	opt := sipgo.WithUserAgenTLSConfig(client)
	if !cfg.TLS.enabled() {
		return nil, opt, nil
	}
	pair, err := loadPair(cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		return nil, nil, err
	}
	ts := &tlsServer{cfg: cfg.TLS}
	ts.cert.Store(pair)
	return ts, opt, nil
}

func (ts *tlsServer) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return ts.cert.Load(), nil
		},
	}
}

// ServeTLS serves SIP over TLS on ln, a plain TCP listener (net.Listen("tcp", ...)): the
// server does the handshakes, with the certificate of Config.TLS (TLS 1.2 or later). The
// connections are held to Config.TCP's limits as over TCP, the handshake within
// read_timeout. Calls that arrive over TLS get a Contact with transport=tls (a sips: one
// when the request used sips:) and in-dialog requests go back on their connection. It
// returns as ServeUDP does; without Config.TLS it closes ln and returns an error.
func (s *Server) ServeTLS(ctx context.Context, ln net.Listener) error {
	if s.tls == nil {
		_ = ln.Close()
		return errors.New("sip: serve tls: sip.tls (listen, cert, key) is not configured")
	}
	tl := s.edge.listener(tls.NewListener(ln, s.tls.config()))
	return s.serve(ctx, "tls", tl.Addr(), tl, func() error {
		return s.sg.ServeTLS(tl)
	}, nil)
}

// ReloadTLS re-reads the certificate and key files of Config.TLS (`hotline serve` calls
// it on SIGHUP). Handshakes after it returns get the new pair; connections already up keep
// theirs. When a file cannot be read, holds no PEM, or the key is not the certificate's,
// the pair in use stays and the error says why, naming the key (sip.tls.cert,
// sip.tls.key). Without Config.TLS it does nothing and returns nil.
func (s *Server) ReloadTLS() error {
	if s.tls == nil {
		return nil
	}
	pair, err := loadPair(s.tls.cfg.Cert, s.tls.cfg.Key)
	if err != nil {
		return fmt.Errorf("sip: reload tls: %w", err)
	}
	s.tls.cert.Store(pair)
	return nil
}

// clientTLSConfig is how Hotline dials TLS: TLS 1.2 or later; the peer's certificate
// verified for the host dialled against the system roots and the trunks' tls_ca, each of
// which is trusted only for the host of the trunks naming it.
func clientTLSConfig(trunks []Trunk) (*tls.Config, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	scoped := map[string][]string{} // a tls_ca certificate (DER) -> the hosts it vouches for
	for i, t := range trunks {
		if t.TLSCA == "" {
			continue
		}
		cas, err := readCAs(t.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("trunks[%d] (%s): tls_ca: %w", i, t.Name, err)
		}
		u, err := t.parse()
		if err != nil {
			return nil, fmt.Errorf("trunks[%d] (%s): uri %q: %w", i, t.Name, t.URI, err)
		}
		for _, ca := range cas {
			roots.AddCert(ca)
			scoped[string(ca.Raw)] = append(scoped[string(ca.Raw)], u.Host)
		}
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    roots,
		// Runs after Go verified the chain and the host name.
		VerifyConnection: func(cs tls.ConnectionState) error {
			for _, chain := range cs.VerifiedChains {
				hosts, private := scoped[string(chain[len(chain)-1].Raw)]
				if !private {
					return nil
				}
				for _, h := range hosts {
					if chain[0].VerifyHostname(h) == nil {
						return nil
					}
				}
			}
			if len(cs.VerifiedChains) == 0 {
				return nil // nothing verified: Go has refused it already
			}
			return fmt.Errorf("sip: tls: certificate of %q is signed by a tls_ca trusted only for another trunk's host",
				cs.PeerCertificates[0].Subject.CommonName)
		},
	}, nil
}

func readCAs(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	cas, err := parseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return cas, nil
}

// transport is how calls through the trunk go: "tls" for a sips: URI, else the URI's
// transport parameter (default "udp").
func (t Trunk) transport(u sipmsg.Uri) string {
	if strings.EqualFold(u.Scheme, "sips") {
		return "tls"
	}
	if u.UriParams == nil {
		return "udp"
	}
	return strings.ToLower(u.UriParams.GetOr("transport", "udp"))
}

// validateTrunkTLS checks the trunks' TLS keys against each other and against sip.tls.
func validateTrunkTLS(c Config) error {
	var errs []error
	for i, t := range c.Trunks {
		u, err := t.parse()
		if err != nil {
			continue // reported by validateTrunks
		}
		overTLS := t.transport(u) == "tls"
		switch {
		case t.TLSCA != "" && !overTLS:
			errs = append(errs, fmt.Errorf("trunks[%d] (%s): tls_ca: the trunk does not use TLS (uri sips:... or ;transport=tls)", i, t.Name))
		case t.TLSCA != "":
			if _, err := readCAs(t.TLSCA); err != nil {
				errs = append(errs, fmt.Errorf("trunks[%d] (%s): tls_ca: %w", i, t.Name, err))
			}
		}
		if overTLS && !c.TLS.enabled() {
			errs = append(errs, fmt.Errorf("trunks[%d] (%s): uri %q: TLS calls need sip.tls (listen, cert, key): the Contact sent to the carrier names that address", i, t.Name, t.URI))
		}
	}
	return errors.Join(errs...)
}

// secureDialog reports whether our Contact toward the sender of req must be a SIPS URI
// (RFC 3261 §12.1.1): it came over TLS and its Request-URI, its top Record-Route, or (with
// no Record-Route) its Contact is one.
func secureDialog(req *sipmsg.Request) bool {
	if !strings.EqualFold(req.Transport(), "tls") {
		return false
	}
	if strings.EqualFold(req.Recipient.Scheme, "sips") {
		return true
	}
	if rr := req.GetHeader("Record-Route"); rr != nil {
		return strings.HasPrefix(strings.ToLower(strings.TrimLeft(rr.Value(), " <")), "sips:")
	}
	ct := req.Contact()
	return ct != nil && strings.EqualFold(ct.Address.Scheme, "sips")
}
