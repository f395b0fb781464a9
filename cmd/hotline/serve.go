package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotline-ivr/hotline/cmd/hotline/defaults"
	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/queue/store"
	"github.com/hotline-ivr/hotline/sip"
)

func serveCmd() *cobra.Command {
	var cfgPath, dataDir string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Answer calls: SIP over UDP and TCP, the menu tree, the admin API",
		Long: "Runs Hotline. With no --config it runs the embedded default: the demo menu on\n" +
			"SIP 127.0.0.1:5060 (UDP and TCP) and the admin API on 127.0.0.1:8080.\n" +
			"Every key can be overridden by HOTLINE_<SECTION>_<KEY>, e.g. HOTLINE_SIP_LISTEN.\n" +
			"SIGHUP re-reads the config file and swaps in the new menu for new calls, and\n" +
			"re-reads sip.tls.cert and sip.tls.key (a bad pair keeps the one in use).\n" +
			"SIGTERM (or SIGINT) drains: new calls get 503, calls in progress go on for up to\n" +
			"sip.drain_timeout (30s), then end; a second signal ends them at once.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			term := make(chan os.Signal, 2)
			signal.Notify(term, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(term)
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			slog.SetDefault(log)
			s, err := startWith(cmd.Context(), cfgPath, dataDir, log)
			if err != nil {
				return err
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			return s.run(cmd.Context(), hup, term)
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "", "config file (YAML, TOML or JSON); default: the embedded demo")
	c.Flags().StringVar(&dataDir, "data", "", "data directory (SQLite store, accounts file); default data_dir or ~/.local/share/hotline")
	return c
}

// server is a running Hotline: the engine, its SIP sockets and the admin API.
type server struct {
	cfgPath   string
	log       *slog.Logger
	eng       *ivr.Engine
	sip       *sip.Server
	drain     time.Duration // sip.drain_timeout
	admin     *ivr.Admin
	hs        *http.Server
	udp       net.PacketConn
	tcp, aln  net.Listener
	tlsLn     net.Listener // SIP over TLS; nil unless sip.tls is set
	errc      chan error
	serving   sync.WaitGroup // the SIP Serve goroutines
	cancel    context.CancelCauseFunc
	db        *store.DB // nil unless a feature needs the store
	dataDir   string
	SIPAddr   string // bound SIP address (UDP and TCP)
	AdminAddr string // bound admin HTTP address
	TLSAddr   string // bound SIP over TLS address; "" when off
}

// start is startWith with the data directory from the config.
func start(ctx context.Context, cfgPath string, log *slog.Logger) (*server, error) {
	return startWith(ctx, cfgPath, "", log)
}

// startWith loads the config, opens the store when a feature needs it, binds every socket
// and starts serving; it returns once ready.
func startWith(ctx context.Context, cfgPath, dataFlag string, log *slog.Logger) (*server, error) {
	l, err := loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	menu, err := buildMenu(l)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.Source, err)
	}
	eng, err := ivr.NewEngine(ivr.Config{Media: l.Media, Admin: l.Admin, DTMF: l.DTMF, Dispatch: l.Dispatch, MaxCalls: l.MaxCalls,
		Overload: l.Overload}, menu, log)
	if err != nil {
		return nil, err
	}
	// The admin API behind its guard (token, Host, Origin, Content-Type): an admin.listen
	// beyond loopback without a token is refused here, before anything opens.
	admin := ivr.NewAdmin(eng)
	guarded, err := ivr.NewGuard(l.Admin, admin)
	if err != nil {
		return nil, err
	}
	srv, err := sip.NewServer(l.SIP, eng.SIPHandler())
	if err != nil {
		return nil, err
	}
	eng.ExportSIPStats(srv)
	s := &server{cfgPath: cfgPath, log: log, eng: eng, sip: srv, admin: admin, errc: make(chan error, 4),
		drain: cmp.Or(l.SIP.DrainTimeout, defaultDrainTimeout)}
	ctx, s.cancel = context.WithCancelCause(ctx)
	if l.Freeze.Enabled || len(l.Queues) > 0 {
		if err := s.openStore(l, dataFlag); err != nil {
			s.cancel(err)
			return nil, err
		}
	}
	if l.Freeze.Enabled {
		if err := s.openFreezeLane(ctx, l); err != nil {
			s.cancel(err)
			s.db.Close()
			return nil, err
		}
	}
	// The dispatcher runs even with no queue: menu transfers dial through it.
	if err := s.openQueues(ctx, l, srv); err != nil {
		s.cancel(err)
		if s.db != nil {
			s.db.Close()
		}
		return nil, err
	}
	// UDP and TCP on the same port: bind UDP first, then TCP on the port it got.
	fail := func(err error) (*server, error) {
		s.cancel(err)
		if s.db != nil {
			s.db.Close()
		}
		return nil, err
	}
	if s.udp, s.tcp, err = listenSIP(l.SIP.Listen); err != nil {
		return fail(fmt.Errorf("sip.listen: %w", err))
	}
	s.SIPAddr = s.udp.LocalAddr().String()
	if s.aln, err = net.Listen("tcp", l.Admin.Listen); err != nil {
		s.udp.Close()
		s.tcp.Close()
		return fail(fmt.Errorf("admin.listen: %w", err))
	}
	s.AdminAddr = s.aln.Addr().String()
	if l.SIP.TLS.Listen != "" {
		if s.tlsLn, err = net.Listen("tcp", l.SIP.TLS.Listen); err != nil {
			s.udp.Close()
			s.tcp.Close()
			s.aln.Close()
			return fail(fmt.Errorf("sip.tls.listen: %w", err))
		}
		s.TLSAddr = s.tlsLn.Addr().String()
		s.serving.Add(1)
		go func() { defer s.serving.Done(); s.errc <- srv.ServeTLS(ctx, s.tlsLn) }()
		log.Info("SIP over TLS", "sip_tls", s.TLSAddr, "cert", l.SIP.TLS.Cert)
	}
	s.hs = &http.Server{Handler: guarded, ReadHeaderTimeout: 5 * time.Second}

	s.serving.Add(2)
	go func() { defer s.serving.Done(); s.errc <- srv.ServeUDP(ctx, s.udp) }()
	go func() { defer s.serving.Done(); s.errc <- srv.ServeTCP(ctx, s.tcp) }()
	go func() {
		if err := s.hs.Serve(s.aln); !errors.Is(err, http.ErrServerClosed) {
			s.errc <- err
		}
	}()
	s.admin.SetProblemFormatter(s.problemLines)
	if cfgPath != "" {
		eng.SetLoader(func() (*ivr.Menu, error) {
			l, err := loadConfig(cfgPath)
			if err != nil {
				return nil, err
			}
			return buildMenu(l)
		})
		files := []string{cfgPath}
		if l.MenusFile != "" {
			files = append(files, l.MenusFile)
		}
		if err := watchConfig(ctx, log, files, func() { s.reload("file") }); err != nil {
			log.Warn("not watching the config for changes; SIGHUP and POST /api/v1/reload still reload", "err", err)
		}
	}
	s.admin.SetReady(true)
	log.Info("hotline serving", "config", l.Source, "sip", s.SIPAddr, "admin", "http://"+s.AdminAddr,
		"menu_version", menu.Tree.Version())
	return s, nil
}

// defaultDrainTimeout is how long a SIGTERM lets calls go on (sip.drain_timeout).
const defaultDrainTimeout = 30 * time.Second

// run serves until ctx ends, a listener fails, or a signal on term asks to stop (after a
// drain); a value on hup reloads the config.
func (s *server) run(ctx context.Context, hup, term <-chan os.Signal) error {
	for {
		select {
		case <-hup:
			s.reload("signal")
			s.reloadTLS()
		case err := <-s.errc:
			s.stop(err)
			return err
		case sig := <-term:
			s.drainCalls(sig, term)
			s.stop(nil)
			s.log.Info("hotline stopped")
			return nil
		case <-ctx.Done():
			s.stop(nil)
			s.log.Info("hotline stopped")
			return nil
		}
	}
}

// drainCalls stops taking calls (503 with Retry-After, /readyz 503) and lets the calls in
// progress go on, audio and all, until they have ended, sip.drain_timeout has passed, or
// another signal comes.
func (s *server) drainCalls(sig os.Signal, term <-chan os.Signal) {
	s.admin.SetReady(false)
	s.sip.Drain()
	s.eng.Drain()
	s.log.Info("draining: new calls get 503; calls in progress go on", "signal", sig.String(),
		"calls", s.eng.CallsInProgress(), "drain_timeout", s.drain)
	deadline := time.NewTimer(s.drain)
	defer deadline.Stop()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for s.eng.CallsInProgress() > 0 {
		select {
		case <-deadline.C:
			s.log.Warn("drain timeout: ending the calls still up", "calls", s.eng.CallsInProgress())
			return
		case <-term:
			s.log.Warn("second signal: ending the calls still up", "calls", s.eng.CallsInProgress())
			return
		case <-poll.C:
		}
	}
	s.log.Info("drained: no call in progress")
}

// reload re-reads the config and swaps the menu in for new calls, or logs why not.
func (s *server) reload(trigger string) {
	ev, err := s.eng.Reload(trigger, s.problemLines)
	if err != nil {
		s.log.Error("reload refused; the running menu stays", "trigger", trigger, "problems", len(ev.Problems))
		for _, p := range ev.Problems {
			s.log.Error("reload problem", "problem", p)
		}
		return
	}
	s.log.Info("menu reloaded", "trigger", trigger, "menu_version", ev.Version)
}

// reloadTLS re-reads the SIP TLS certificate and key (SIGHUP), or logs why the pair in
// use stays.
func (s *server) reloadTLS() {
	if s.tlsLn == nil {
		return
	}
	if err := s.sip.ReloadTLS(); err != nil {
		s.log.Error("tls certificate not reloaded; the one in use stays", "err", err)
		return
	}
	s.log.Info("tls certificate reloaded")
}

// problemLines formats a config error as `hotline validate` does: FILE:LINE:COL: key: message.
func (s *server) problemLines(err error) []string {
	loc := newLocator(s.cfgPath)
	var out []string
	for _, line := range problemLines(err) {
		out = append(out, loc.format(line))
	}
	return out
}

// stop ends every call and closes every socket.
func (s *server) stop(cause error) {
	s.admin.SetReady(false)
	s.cancel(cause)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.hs.Shutdown(ctx)
	s.hs.Close() // what Shutdown left (a connection that never sent a request is not idle to it)
	// The SIP servers end their calls (BYE to each caller) and return once the handlers
	// have; only then may the sockets and the store close under them. Bounded.
	served := make(chan struct{})
	go func() { s.serving.Wait(); close(served) }()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		s.log.Warn("calls still ending after 5 s; closing anyway")
	}
	// The queue dispatcher keeps the places of callers still on hold (in the store) and
	// waits for its rings, callback calls and store writes; only then may the store close.
	if !s.eng.Close(5 * time.Second) {
		s.log.Warn("queue dispatcher still busy after 5 s; closing anyway")
	}
	s.udp.Close()
	s.tcp.Close()
	if s.tlsLn != nil {
		s.tlsLn.Close()
	}
	if s.db != nil {
		s.db.Close()
	}
}

// openStore opens the SQLite store in the data directory.
func (s *server) openStore(l *loaded, dataFlag string) error {
	dir, err := l.dataDir(dataFlag)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	s.dataDir = dir
	if s.db, err = store.Open(filepath.Join(dir, "hotline.db")); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	s.eng.SetStore(s.db)
	return nil
}

// openQueues loads the queue prompts and starts the dispatcher; agents' registrations
// make them ready.
func (s *server) openQueues(ctx context.Context, l *loaded, srv *sip.Server) error {
	sys, err := fs.Sub(defaults.FS, "prompts")
	if err != nil {
		return err
	}
	if l.SystemPrompts != "" {
		sys = osDir(l.SystemPrompts)
	}
	if err := s.eng.LoadSystemPrompts(sys); err != nil {
		return fmt.Errorf("system_prompts: %w", err)
	}
	srv.OnRegister(func(user string, contacts []sip.Contact) {
		s.eng.AgentRegistered(user, len(contacts) > 0)
	})
	if err := s.eng.EnableQueues(ctx, l.Queues, l.Agents, l.AgentCodes, srv); err != nil {
		return err
	}
	if len(l.Queues) > 0 {
		s.log.Info("hold queues on", "queues", len(l.Queues), "agents", len(l.Agents))
	}
	return nil
}

// openFreezeLane opens the accounts file and turns the freeze lane on.
func (s *server) openFreezeLane(ctx context.Context, l *loaded) error {
	accounts, path, err := loadAccounts(s.dataDir, l.Freeze.Accounts)
	if err != nil {
		return err
	}
	if n := accounts.ShortChecks(max(l.Freeze.CheckDigits, ivr.UntrustedCheckDigits)); n > 0 {
		s.log.Warn("accounts whose check is shorter than the digits callers are asked: a caller whose identity no trusted trunk vouches for cannot freeze them",
			"accounts", n, "digits_asked", max(l.Freeze.CheckDigits, ivr.UntrustedCheckDigits))
	}
	s.eng.EnableFreeze(ctx, ivr.FreezeLane{Config: l.Freeze, Store: s.db, Accounts: accounts})
	s.log.Info("freeze lane on", "store", s.db.Path(), "accounts", path, "webhook", l.Freeze.Webhook.URL != "")
	return nil
}

// listenSIP binds UDP and TCP on the same address. With port 0 the UDP port is chosen first
// and TCP may find that number taken by another socket: then it tries another pair.
func listenSIP(addr string) (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	for try := 0; ; try++ {
		udp, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if port != "0" || try == 20 {
			return nil, nil, err
		}
	}
}
