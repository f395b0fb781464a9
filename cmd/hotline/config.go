package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
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
	DTMF  ivr.DTMFConfig  `mapstructure:"dtmf"`
	Menus menus.Config    `mapstructure:"menus"`
	// DataDir holds the SQLite store and the freeze lane's accounts file; default
	// $XDG_DATA_HOME/hotline (~/.local/share/hotline).
	DataDir string `mapstructure:"data_dir"`
	// MaxCalls is the admission limit (503 beyond it); 0: none.
	MaxCalls int `mapstructure:"max_calls"`
	// Overload answers callers beyond max_calls with the brown-out offer.
	Overload ivr.OverloadConfig `mapstructure:"overload"`
	Freeze   ivr.FreezeConfig   `mapstructure:"freeze"`
	// Queues are the hold queues by name; Agents the people who serve them.
	Queues map[string]ivr.QueueConfig `mapstructure:"queues"`
	Agents []ivr.AgentConfig          `mapstructure:"agents"`
	// AgentCodes are the feature codes agents dial to change their state.
	AgentCodes ivr.AgentCodesConfig `mapstructure:"agent_codes"`
	// Dispatch tunes the queue dispatcher's timers (ring rest, callback ring and lease).
	Dispatch ivr.DispatchConfig `mapstructure:"dispatch"`
	// SystemPrompts is a directory of the prompts hold queues speak with (moh.wav,
	// numbers/<lang>/, queue/<lang>/); default: the embedded set.
	SystemPrompts string `mapstructure:"system_prompts"`
}

// scalarDefaults are the defaults of scalar keys that viper fills in when neither the file
// nor the environment sets them. Every leaf key has its HOTLINE_<SECTION>_<KEY> variable
// whether or not it is listed here (envKeys).
var scalarDefaults = map[string]any{
	"sip.listen":                    "127.0.0.1:5060",
	"sip.user_agent":                "Hotline",
	"sip.allow":                     []string{},
	"sip.tcp.read_timeout":          "10s",
	"sip.tcp.idle_timeout":          "0s", // 0: the registrar's max_expires + 5m
	"sip.tcp.max_conns_per_source":  64,
	"sip.tls.listen":                "", // sip.tls: all three, or none (off)
	"sip.tls.cert":                  "",
	"sip.tls.key":                   "",
	"sip.max_call_duration":         "4h", // 0: no limit
	"sip.session_expires":           "1800s",
	"sip.min_se":                    "90s",
	"media.rtp_address":             "127.0.0.1",
	"media.rtp_port_min":            10000,
	"media.rtp_port_max":            20000,
	"media.codecs":                  []string{"PCMU", "PCMA"},
	"media.rtp_timeout":             "30s", // 0: off
	"media.hold_timeout":            "2h",  // 0: off
	"admin.listen":                  "127.0.0.1:8080",
	"admin.call_history":            1000,
	"admin.pprof":                   false,
	"admin.token":                   "",
	"admin.token_file":              "",
	"admin.hosts":                   []string{},
	"data_dir":                      "",
	"freeze.enabled":                false,
	"freeze.trust_from":             false,
	"freeze.rate_limit.per_caller":  0,
	"freeze.rate_limit.per_account": 0,
	"freeze.rate_limit.per_source":  0,
	"freeze.rate_limit.period":      "0s",
	"freeze.accounts":               "accounts.yaml",
	"freeze.webhook.url":            "",
	"freeze.webhook.secret":         "",
	"dtmf.mode":                     "auto",
	"dtmf.dedupe_window":            "250ms",
	"dispatch.ring_rest":            "5s",
	"dispatch.callback_ring":        "60s",
	"dispatch.callback_lease":       "2m",
	"dispatch.callback_postpone":    "10s",
}

// loaded is a decoded configuration and where its prompt files are read from.
type loaded struct {
	Config
	Source    string  // the file, or "(embedded default)"
	MenusFile string  // the file holding the menus section, when it is not inline
	Prompts   fs.FS   // prompt paths in menus.prompts are relative to this
	Problems  []error // keys that fit no field, values of the wrong type: each names its key path
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
	if err := unknownEnv(os.Environ()); err != nil {
		return nil, err
	}
	// Every leaf key is bound, so that its variable works even when the file leaves the
	// key out (AutomaticEnv alone only reads variables of keys viper already knows).
	for _, k := range append(envKeys(), menusKey) {
		if err := v.BindEnv(k); err != nil {
			return nil, err
		}
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
			l.Problems = append(l.Problems, unknownKeyProblems("menus", err)...)
			*fromFile = menus.Config{}
			if err := mv.Unmarshal(fromFile); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
		}
		l.MenusFile = file
		l.Prompts = osDir(filepath.Dir(file))
		v.Set("menus", map[string]any{})
	}
	if err := v.UnmarshalExact(&l.Config); err != nil {
		// Report every unknown or mistyped key, then decode what fits, so that the
		// menus are validated too and the operator sees every problem at once.
		l.Problems = append(l.Problems, unknownKeyProblems("", err)...)
		l.Config = Config{}
		if err := v.Unmarshal(&l.Config); err != nil {
			return nil, fmt.Errorf("%s: %w", l.Source, err)
		}
	}
	if fromFile != nil {
		l.Menus = *fromFile
	}
	return l, nil
}

// buildMenu validates the whole config, compiles the menus section and loads its prompts.
// The error lists every problem found, one per line, each naming its key path.
func buildMenu(l *loaded) (*ivr.Menu, error) {
	errs := append([]error(nil), l.Problems...)
	if err := l.SIP.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := l.Media.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := l.DTMF.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := l.Admin.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := l.Freeze.Validate(); err != nil {
		errs = append(errs, err)
	}
	if l.Freeze.Enabled {
		for _, name := range l.Freeze.LanePrompts() {
			if _, ok := l.Menus.Prompts[name]; !ok {
				errs = append(errs, fmt.Errorf("menus.prompts.%s: required by the freeze lane (freeze.enabled)", name))
			}
		}
	}
	if err := l.Dispatch.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := l.Overload.Validate(l.MaxCalls, l.Queues); err != nil {
		errs = append(errs, err)
	}
	if err := ivr.ValidateQueues(l.Queues, l.Agents); err != nil {
		errs = append(errs, err)
	}
	for _, name := range slices.Sorted(maps.Keys(l.Queues)) {
		// A typo here would leave callers on hold in silence.
		if m := l.Queues[name].Music; m != "" && m != "moh" {
			if _, ok := l.Menus.Prompts[m]; !ok {
				errs = append(errs, fmt.Errorf("queues.%s.music: %q is neither a menus prompt nor the built-in moh", name, m))
			}
		}
	}
	errs = append(errs, enqueueTargets(l)...)
	if q := l.Freeze.RecoveryQueue; q != "" {
		if _, ok := l.Queues[q]; !ok {
			errs = append(errs, fmt.Errorf("freeze.recovery_queue: unknown queue %q", q))
		}
	}
	// Transfers dial with the queues' dialler (issue 11).
	tree, err := menus.CompileWith(l.Menus, menus.CompileOptions{Enabled: map[string]bool{
		"freeze": l.Freeze.Enabled, "enqueue": len(l.Queues) > 0, "transfer": true}})
	if err != nil {
		errs = append(errs, err)
	}
	// Load every prompt file even when the tree has problems, so that missing or unusable
	// files are reported in the same run.
	var refs []menus.PromptRef
	if tree != nil {
		refs = tree.PromptRefs()
	} else {
		for _, name := range slices.Sorted(maps.Keys(l.Menus.Prompts)) {
			refs = append(refs, menus.PromptRef{ID: name, Name: name, Path: "menus.prompts." + name, PromptConfig: l.Menus.Prompts[name]})
		}
	}
	prompts, err := ivr.LoadPrompts(refs, l.Prompts)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &ivr.Menu{Tree: tree, Prompts: prompts}, nil
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

// dataDir returns the data directory: --data, then data_dir, then the user's data dir.
func (l *loaded) dataDir(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if l.DataDir != "" {
		return l.DataDir, nil
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "hotline"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("data_dir: no home directory to default to; set data_dir or --data: %w", err)
	}
	return filepath.Join(home, ".local", "share", "hotline"), nil
}

// enqueueTargets reports enqueue options naming a queue that is not configured, and
// transfers naming a trunk that is not.
func enqueueTargets(l *loaded) []error {
	var errs []error
	check := func(path string, o menus.OptionConfig) {
		if o.Action == menus.ActionTransfer && o.Trunk != "" &&
			!slices.ContainsFunc(l.SIP.Trunks, func(t sip.Trunk) bool { return t.Name == o.Trunk }) {
			errs = append(errs, fmt.Errorf("%s.trunk: unknown trunk %q (see sip.trunks)", path, o.Trunk))
		}
		if o.Action == menus.ActionEnqueue && len(l.Queues) > 0 {
			if _, ok := l.Queues[o.Queue]; !ok {
				errs = append(errs, fmt.Errorf("%s.queue: unknown queue %q (queues: %s)", path, o.Queue,
					strings.Join(slices.Sorted(maps.Keys(l.Queues)), ", ")))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(l.Menus.Nodes)) {
		for _, k := range slices.Sorted(maps.Keys(l.Menus.Nodes[name].Options)) {
			check("menus.nodes."+name+".options."+k, l.Menus.Nodes[name].Options[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(l.Menus.GlobalKeys)) {
		check("menus.global_keys."+k, l.Menus.GlobalKeys[k])
	}
	return errs
}
