package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func certCmd() *cobra.Command {
	var (
		hosts []string
		out   string
		days  int
		force bool
	)
	c := &cobra.Command{
		Use:   "cert",
		Short: "Write a self-signed certificate and key for trying SIP over TLS",
		Long: "Writes DIR/cert.pem and DIR/key.pem (mode 0600): a self-signed ECDSA P-256 certificate\n" +
			"for the --host names and addresses, to put in sip.tls.cert and sip.tls.key. Phones and\n" +
			"carriers must be told to trust cert.pem (it is its own CA). For trying TLS out; in\n" +
			"production use a certificate from a CA the carrier trusts. The same with openssl:\n\n" +
			"  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \\\n" +
			"    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \\\n" +
			"    -keyout key.pem -out cert.pem",
		Example: "  hotline cert --host 127.0.0.1 --out /etc/hotline/tls\n" +
			"  hotline cert --host sip.example.com --host 192.0.2.10 --days 30 --out tls",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			certPath, keyPath, notAfter, err := writeSelfSigned(out, hosts, time.Duration(days)*24*time.Hour, force, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s (self-signed for %s, valid until %s)\n"+
				"sip:\n  tls:\n    listen: 0.0.0.0:5061\n    cert: %s\n    key: %s\n",
				certPath, keyPath, strings.Join(hosts, ", "), notAfter.Format(time.DateOnly), certPath, keyPath)
			return nil
		},
	}
	c.Flags().StringSliceVar(&hosts, "host", []string{"127.0.0.1"}, "IP address or DNS name the certificate is for (repeat or comma-separate); the first is its common name")
	c.Flags().StringVar(&out, "out", ".", "directory to write cert.pem and key.pem to (created if missing)")
	c.Flags().IntVar(&days, "days", 365, "days the certificate is valid")
	c.Flags().BoolVar(&force, "force", false, "overwrite an existing cert.pem or key.pem")
	return c
}

// writeSelfSigned writes dir/cert.pem (0644) and dir/key.pem (0600): a new ECDSA P-256
// key and a self-signed certificate for hosts, valid from now for valid. The certificate
// is its own CA (basic constraints CA, path length 0), so that peers can trust it as a
// root.
func writeSelfSigned(dir string, hosts []string, valid time.Duration, force bool, now time.Time) (certPath, keyPath string, notAfter time.Time, err error) {
	if len(hosts) == 0 {
		return "", "", notAfter, errors.New("cert: --host: at least one name or address")
	}
	if valid <= 0 {
		return "", "", notAfter, errors.New("cert: --days: at least 1")
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{"Hotline (self-signed)"}},
		NotBefore:             now.Add(-5 * time.Minute), // peers whose clocks run a little behind
		NotAfter:              now.Add(valid),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	for _, h := range hosts {
		switch ip := net.ParseIP(h); {
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		case h == "" || strings.ContainsAny(h, " \t\r\n/:@<>;,"):
			return "", "", notAfter, fmt.Errorf("cert: --host %q: not an IP address or DNS name", h)
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127)); err != nil {
		return "", "", notAfter, fmt.Errorf("cert: %w", err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", notAfter, fmt.Errorf("cert: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return "", "", notAfter, fmt.Errorf("cert: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", notAfter, fmt.Errorf("cert: %w", err)
	}

	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if !force {
		for _, p := range []string{certPath, keyPath} {
			if _, err := os.Stat(p); err == nil {
				return "", "", notAfter, fmt.Errorf("cert: %s exists (--force to overwrite)", p)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return "", "", notAfter, fmt.Errorf("cert: %w", err)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", notAfter, fmt.Errorf("cert: %w", err)
	}
	// The key first, never readable by others, even for a moment.
	if err := writePEM(keyPath, 0o600, "PRIVATE KEY", keyDER); err != nil {
		return "", "", notAfter, err
	}
	if err := writePEM(certPath, 0o644, "CERTIFICATE", der); err != nil {
		return "", "", notAfter, err
	}
	return certPath, keyPath, tmpl.NotAfter, nil
}

// writePEM writes one PEM block to path, which ends with mode perm (an existing file too).
func writePEM(path string, perm os.FileMode, typ string, der []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("cert: %w", err)
	}
	if err := f.Chmod(perm); err != nil { // the file existed with other permissions
		f.Close()
		return fmt.Errorf("cert: %w", err)
	}
	err = pem.Encode(f, &pem.Block{Type: typ, Bytes: der})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cert: %s: %w", path, err)
	}
	return nil
}
