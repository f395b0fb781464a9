package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr/phone"
	"github.com/hotline-ivr/hotline/queue/store"
)

// childConfigEnv makes the test binary run a server (runChild) instead of the tests.
const childConfigEnv = "HOTLINETEST_CHILD_CONFIG" // not HOTLINE_: those name config keys

// runChild serves cfg until killed and prints "READY <sip> <admin>" once listening.
func runChild(cfg string) {
	s, err := start(context.Background(), cfg, discardLog())
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("READY", s.SIPAddr, s.AdminAddr)
	select {}
}

// child is a server process.
type child struct {
	cmd            *exec.Cmd
	sipAddr, admin string
}

func startChild(t *testing.T, cfg string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childConfigEnv+"="+cfg)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 3 || f[0] != "READY" {
		t.Fatalf("child server: %q %v", line, err)
	}
	return &child{cmd: cmd, sipAddr: f[1], admin: f[2]}
}

// kill -9, as a crash.
func (c *child) kill(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

// The server is killed with one callback stored and pending and another in the middle of
// being dialled. After a restart both are still there; the pending one is dialled and
// answered; the one cut off mid-dial is not dialled again while its lease stands (it may
// have reached the caller: the store marks the attempt interrupted).
func TestE2E_CrashKeepsCallbacksAndDialsNoneTwice(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	sipYAML := "  registrar:\n    accounts: [{user: agent1, password: agentpw}, {user: carol, password: carolpw}, {user: dan, password: danpw}]\n"
	cfg := queueConfig(t, data, "    max_wait: 300ms\n    ring_timeout: 20s\n", agentYAML, sipYAML)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, _ := loadConfig(cfg)
	menu, err := buildMenu(l)
	if err != nil {
		t.Fatal(err)
	}
	prompts := withSystemPrompts(t, menu.Prompts)

	c1 := startChild(t, cfg)
	// Carol joins the queue, then dan (so her place is ahead of his); they wait together,
	// and each takes the callback offered at max wait.
	var waiting []*phone.Phone
	for _, who := range []string{"carol", "dan"} {
		p, err := phone.Dial(ctx, "sip:hotline@"+c1.sipAddr, phone.Options{FromUser: who, Prompts: prompts, DigitDuration: shortPress, KeyGap: shortGap})
		if err != nil {
			t.Fatal(err)
		}
		expectPrompts(t, ctx, p, "main")
		p.Press(ctx, "3")
		expectPrompts(t, ctx, p, "moh")
		waiting = append(waiting, p)
	}
	for _, p := range waiting {
		if _, err := p.WaitPrompt(ctx, "queue/en/callback_offer"); err != nil {
			t.Fatal(err)
		}
		p.Press(ctx, "1")
		if _, err := p.WaitPrompt(ctx, "queue/en/callback_confirmed"); err != nil {
			t.Fatal(err)
		}
		hangupQuietly(p)
	}
	// Carol's phone rings without answering: her callback is mid-dial when the server dies.
	carol, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: c1.sipAddr, User: "carol", Password: "carolpw", Reject: phone.NoAnswer})
	if err != nil {
		t.Fatal(err)
	}
	defer carol.Close()
	agent, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: c1.sipAddr, User: "agent1", Password: "agentpw"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-carol.Rings():
	case <-ctx.Done():
		t.Fatal("carol's callback was never dialled")
	}
	c1.kill(t)
	agent.Drop() // the server is gone: no unregistering, no BYE to wait out
	carol.Drop()

	db, err := store.Open(filepath.Join(data, "hotline.db"))
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	cbs, err := db.ListCallbacks(ctx, store.CallbackFilter{})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, cb := range cbs {
		states[cb.CallerNumber] = string(cb.State)
	}
	if len(cbs) != 2 || states["carol"] != "dialing" || states["dan"] != "pending" {
		t.Fatalf("after the crash the store holds %v, want carol dialing and dan pending", states)
	}

	c2 := startChild(t, cfg)
	carol2, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: c2.sipAddr, User: "carol", Password: "carolpw"})
	if err != nil {
		t.Fatal(err)
	}
	defer carol2.Close()
	dan, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: c2.sipAddr, User: "dan", Password: "danpw"})
	if err != nil {
		t.Fatal(err)
	}
	defer dan.Close()
	agent2, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: c2.sipAddr, User: "agent1", Password: "agentpw"})
	if err != nil {
		t.Fatal(err)
	}
	defer agent2.Close()
	var dc *phone.AgentCall
	select {
	case dc = <-dan.Calls():
	case <-carol2.Rings():
		t.Fatal("carol's interrupted callback was dialled again within its lease")
	case <-ctx.Done():
		t.Fatal("dan's callback was not dialled after the restart")
	}
	dc.Hangup(ctx)
	select {
	case <-carol2.Rings():
		t.Fatal("carol's interrupted callback was dialled again within its lease")
	case <-time.After(2 * time.Second):
	}
	var got struct {
		Callbacks []struct {
			CallerNumber string `json:"caller_number"`
			State        string
			Attempts     int
		} `json:"callbacks"`
	}
	getJSON(t, "http://"+c2.admin+"/api/v1/callbacks", &got)
	byCaller := map[string]string{}
	for _, cb := range got.Callbacks {
		byCaller[cb.CallerNumber] = fmt.Sprintf("%s/%d", cb.State, cb.Attempts)
	}
	if len(got.Callbacks) != 2 || byCaller["dan"] != "done/1" || byCaller["carol"] != "dialing/1" {
		t.Errorf("callbacks after restart %v, want dan done after 1 attempt, carol still held (dialing, 1 attempt)", byCaller)
	}
}
