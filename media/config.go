package media

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Config is the media section of Hotline's configuration.
type Config struct {
	// RTPAddress is the IP RTP sockets bind to and that SDP answers advertise; default 127.0.0.1.
	RTPAddress string `mapstructure:"rtp_address"`
	// PublicAddress, when set, is the IP SDP offers and answers name (c= and o=) instead of
	// RTPAddress, which the sockets still bind: the public address of a NAT in front of
	// Hotline that forwards the RTP ports. Empty: off.
	PublicAddress string `mapstructure:"public_address"`
	// RTPPortMin and RTPPortMax bound the per-call RTP ports (even ports are used).
	// Both 0 means ephemeral ports, as tests use.
	RTPPortMin int `mapstructure:"rtp_port_min"`
	RTPPortMax int `mapstructure:"rtp_port_max"`
	// Codecs lists the codecs accepted, in order of preference; default PCMU, PCMA.
	Codecs []string `mapstructure:"codecs"`
	// RTPTimeout ends a call whose far end has sent no RTP for this long: a caller gone
	// without a BYE (Session.WatchSilence). Zero turns the check off; hotline's config
	// defaults it to 30s.
	RTPTimeout time.Duration `mapstructure:"rtp_timeout"`
	// HoldTimeout replaces RTPTimeout while the far end holds the call (its SDP says
	// sendonly, recvonly or inactive: it may send nothing). Zero turns the check off for held
	// calls; hotline's config defaults it to 2h.
	HoldTimeout time.Duration `mapstructure:"hold_timeout"`
}

// Validate reports every problem, naming the config key.
func (c Config) Validate() error {
	var errs []error
	if c.RTPAddress != "" {
		if _, err := netip.ParseAddr(c.RTPAddress); err != nil {
			errs = append(errs, fmt.Errorf("media.rtp_address: %q is not an IP address", c.RTPAddress))
		}
	}
	if c.PublicAddress != "" {
		if a, err := netip.ParseAddr(c.PublicAddress); err != nil || a.IsUnspecified() || a.IsMulticast() {
			errs = append(errs, fmt.Errorf("media.public_address: %q is not a unicast IP address", c.PublicAddress))
		}
	}
	if c.RTPPortMin < 0 || c.RTPPortMax > 65535 || c.RTPPortMin > c.RTPPortMax {
		errs = append(errs, fmt.Errorf("media.rtp_port_min, media.rtp_port_max: %d-%d is not a port range", c.RTPPortMin, c.RTPPortMax))
	} else if (c.RTPPortMin == 0) != (c.RTPPortMax == 0) {
		errs = append(errs, errors.New("media.rtp_port_min, media.rtp_port_max: set both, or both 0 for ephemeral ports"))
	} else if c.RTPPortMin != 0 && c.RTPPortMax-c.RTPPortMin < 1 {
		errs = append(errs, fmt.Errorf("media.rtp_port_min, media.rtp_port_max: %d-%d holds no even port pair", c.RTPPortMin, c.RTPPortMax))
	}
	if c.RTPTimeout < 0 {
		errs = append(errs, fmt.Errorf("media.rtp_timeout: %v is negative (0 turns the check off)", c.RTPTimeout))
	}
	if c.HoldTimeout < 0 {
		errs = append(errs, fmt.Errorf("media.hold_timeout: %v is negative (0 turns the check off)", c.HoldTimeout))
	}
	for i, name := range c.Codecs {
		if CodecName(name) != PCMU && CodecName(name) != PCMA {
			errs = append(errs, fmt.Errorf("media.codecs.%d: %q is not supported (PCMU, PCMA)", i, name))
		}
	}
	return errors.Join(errs...)
}

// CodecNames returns the configured codecs in preference order (default PCMU, PCMA).
func (c Config) CodecNames() []CodecName {
	if len(c.Codecs) == 0 {
		return []CodecName{PCMU, PCMA}
	}
	out := make([]CodecName, 0, len(c.Codecs))
	for _, n := range c.Codecs {
		out = append(out, CodecName(n))
	}
	return out
}

// Addr returns the RTP address, defaulting to 127.0.0.1.
func (c Config) Addr() (netip.Addr, error) {
	if c.RTPAddress == "" {
		return netip.MustParseAddr("127.0.0.1"), nil
	}
	a, err := netip.ParseAddr(c.RTPAddress)
	if err != nil {
		return a, fmt.Errorf("media.rtp_address: %w", err)
	}
	return a, nil
}

// Advertised returns the IP SDP names: PublicAddress when set, else the RTP address.
func (c Config) Advertised() (netip.Addr, error) {
	if c.PublicAddress == "" {
		return c.Addr()
	}
	a, err := netip.ParseAddr(c.PublicAddress)
	if err != nil {
		return a, fmt.Errorf("media.public_address: %w", err)
	}
	return a, nil
}
