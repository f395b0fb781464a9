package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/viper"

	"github.com/hotline-ivr/hotline/cmd/hotline/defaults"
	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/menus"
	"github.com/hotline-ivr/hotline/sip"
)

// Config is the whole configuration file. Each section is its package's Config (STYLE.md B3).
type Config struct {
	SIP   sip.Config      `mapstructure:"sip"`
	Media media.Config    `mapstructure:"media"`
	Admin ivr.AdminConfig `mapstructure:"admin"`
	Menus menus.Config    `mapstructure:"menus"`
}

// scalarDefaults are the defaults of every scalar key; they also make each key known to
// viper so that HOTLINE_<SECTION>_<KEY> overrides it even when the file leaves it out.
var scalarDefaults = map[string]any{
	"sip.listen":         "127.0.0.1:5060",
	"sip.user_agent":     "Hotline",
	"media.rtp_address":  "127.0.0.1",
	"media.rtp_port_min": 10000,
	"media.rtp_port_max": 20000,
	"media.codecs":       []string{"PCMU", "PCMA"},
	"admin.listen":       "127.0.0.1:8080",
	"admin.call_history": 1000,
	"admin.pprof":        false,
}

// loaded is a decoded configuration and where its prompt files are read from.
type loaded struct {
	Config
	Source  string // the file, or "(embedded default)"
	Prompts fs.FS  // prompt paths in menus.prompts are relative to this
}

// loadConfig reads path (or the embedded default when path is ""), applies defaults and
// HOTLINE_* environment overrides, and decodes it. It does not validate the menus.
func loadConfig(path string) (*loaded, error) {
	v := viper.New()
	for k, val := range scalarDefaults {
		v.SetDefault(k, val)
	}
	v.SetEnvPrefix("HOTLINE")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if err := v.BindEnv("menus"); err != nil {
		return nil, err
	}
	l := &loaded{}
	var dir string
	if path == "" {
		data, err := fs.ReadFile(defaults.FS, defaults.ConfigName)
		if err != nil {
			return nil, err
		}
		v.SetConfigType("yaml")
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("embedded default: %w", err)
		}
		l.Source, l.Prompts = "(embedded default)", defaults.FS
	} else {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		dir = filepath.Dir(path)
		l.Source, l.Prompts = path, osDir(dir)
	}
	// menus: either inline, or the path of a file holding the menus section.
	var fromFile *menus.Config
	if file, ok := v.Get("menus").(string); ok {
		if !filepath.IsAbs(file) && dir != "" {
			file = filepath.Join(dir, file)
		}
		mv := viper.New()
		mv.SetConfigFile(file)
		if err := mv.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("menus: %w", err)
		}
		fromFile = new(menus.Config)
		if err := mv.UnmarshalExact(fromFile); err != nil {
			return nil, fmt.Errorf("%s: %w", file, decodeError("menus", err))
		}
		l.Prompts = osDir(filepath.Dir(file))
		v.Set("menus", map[string]any{})
	}
	if err := v.UnmarshalExact(&l.Config); err != nil {
		return nil, fmt.Errorf("%s: %w", l.Source, decodeError("", err))
	}
	if fromFile != nil {
		l.Menus = *fromFile
	}
	return l, nil
}

// decodeError rewrites mapstructure's decode error into lines that name the key path.
func decodeError(prefix string, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "decoding failed due to the following error(s):\n\n")
	var errs []error
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if prefix != "" {
			line = prefix + "." + line
		}
		errs = append(errs, errors.New(line))
	}
	return errors.Join(errs...)
}

// buildMenu validates and compiles the menus section and loads its prompts.
func buildMenu(l *loaded) (*ivr.Menu, error) {
	tree, err := menus.Compile(l.Menus)
	if err != nil {
		return nil, err
	}
	return ivr.LoadMenu(tree, l.Prompts)
}

// osDir reads prompt files relative to a config file's directory. Unlike os.DirFS it accepts
// absolute paths and paths that climb out with "..": an operator's config may keep its
// prompts anywhere.
type osDir string

func (d osDir) Open(name string) (fs.File, error) {
	if !filepath.IsAbs(name) {
		name = filepath.Join(string(d), name)
	}
	return os.Open(name)
}
