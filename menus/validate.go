package menus

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// builder validates a Config and compiles it into a Tree in one pass, so
// that Validate and Compile can never disagree.
type builder struct {
	c        Config
	o        CompileOptions
	t        *Tree
	problems []*Problem
	collects []collectRef
	// unsure: some option's action or target could not be resolved, so
	// reachability is not known (that option has its own problem).
	unsure bool
}

type collectRef struct {
	path string
	o    *option
}

// Where an option sits, which decides what it may do.
type where uint8

const (
	whereOption where = iota // a node's options
	wherePattern
	whereGlobal
	whereLimit // max_failures_action, max_timeouts_action
)

// build validates c and, when it has no problems, returns its Tree.
func build(c Config, o CompileOptions) (*Tree, error) {
	b := &builder{c: c, o: o}
	b.tree()
	if err := joinProblems(b.problems); err != nil {
		return nil, err
	}
	b.t.version = version(c)
	return b.t, nil
}

func (b *builder) add(path, format string, args ...any) {
	b.problems = append(b.problems, &Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (b *builder) tree() {
	c := b.c
	t := &Tree{
		nodes:        make(map[string]*node, len(c.Nodes)),
		prompts:      make(map[string]PromptConfig, len(c.Prompts)),
		langs:        map[string]*language{},
		globals:      map[byte]*option{},
		digitPrompts: map[byte]string{},
		schedules:    map[string]*schedule{},
		defaultLang:  strings.ToLower(strings.TrimSpace(c.DefaultLanguage)),
	}
	b.t = t
	p := pathPrefix + "."
	b.nonNegative(p+"digit_timeout", c.DigitTimeout)
	b.nonNegative(p+"inter_digit_timeout", c.InterDigitTimeout)
	b.nonNegative(p+"max_retries", c.MaxRetries)
	b.nonNegative(p+"max_failures", c.MaxFailures)
	b.nonNegative(p+"max_timeouts", c.MaxTimeouts)
	b.promptRef(p+"invalid_prompt", c.InvalidPrompt, false)
	b.promptRef(p+"timeout_prompt", c.TimeoutPrompt, false)
	b.promptRef(p+"goodbye_prompt", c.GoodbyePrompt, false)
	b.promptRef(p+"readback_prompt", c.ReadbackPrompt, false)
	b.promptRef(p+"confirm_prompt", c.ConfirmPrompt, false)

	for _, name := range slices.Sorted(maps.Keys(c.Prompts)) {
		pc := c.Prompts[name]
		switch {
		case name == "":
			b.add(p+"prompts", "prompt with an empty name")
			continue
		case strings.Contains(name, "/"):
			b.add(p+"prompts."+name, "prompt names must not contain \"/\" (it separates a language from a prompt in prompt IDs)")
		}
		b.promptFile(p+"prompts."+name, pc)
		t.prompts[name] = pc
		t.refs = append(t.refs, PromptRef{ID: name, Name: name, Path: p + "prompts." + name, PromptConfig: pc})
	}
	b.languages()
	for _, k := range slices.Sorted(maps.Keys(c.DigitPrompts)) {
		path := p + "digit_prompts." + k
		if !validKey(k) {
			b.add(path, "invalid key %q (want one of 0-9, * or #)", k)
			continue
		}
		b.promptRef(path, c.DigitPrompts[k], true)
		t.digitPrompts[k[0]] = c.DigitPrompts[k]
	}
	for _, name := range slices.Sorted(maps.Keys(c.Schedules)) {
		b.schedule(name, c.Schedules[name])
	}

	if len(c.Nodes) == 0 {
		b.add(p+"nodes", "no nodes defined")
	}
	for name := range c.Nodes {
		if name == "" {
			b.add(p+"nodes", "node with an empty name")
			continue
		}
		t.nodes[name] = &node{name: name}
	}
	t.names = slices.Sorted(maps.Keys(t.nodes))
	root := cmp.Or(c.Root, DefaultRoot)
	if t.root = t.nodes[root]; t.root == nil {
		b.add(p+"root", "unknown node %q%s", root, hint(root, c.Nodes))
	}

	for _, k := range slices.Sorted(maps.Keys(c.GlobalKeys)) {
		path := p + "global_keys." + k
		o := b.option(path, c.GlobalKeys[k], whereGlobal)
		b.unsure = b.unsure || o == nil || o.broken
		if !validKey(k) {
			b.add(path, "invalid key %q (want one of 0-9, * or #)", k)
			b.unsure = true
			continue
		}
		if o != nil {
			o.key = k
			t.globals[k[0]] = o
		}
	}
	var treeFail, treeTimeout *option
	if c.MaxFailuresAction != (OptionConfig{}) {
		treeFail = b.option(p+"max_failures_action", c.MaxFailuresAction, whereLimit)
		b.unsure = b.unsure || treeFail == nil || treeFail.broken
	}
	if c.MaxTimeoutsAction != (OptionConfig{}) {
		treeTimeout = b.option(p+"max_timeouts_action", c.MaxTimeoutsAction, whereLimit)
		b.unsure = b.unsure || treeTimeout == nil || treeTimeout.broken
	}
	for _, name := range t.names {
		b.node(t.nodes[name], c.Nodes[name], treeFail, treeTimeout)
	}
	b.collectChecks()
	b.routeLoops()
	if t.root != nil {
		b.paths()
	}
}

func (b *builder) nonNegative(path string, v any) {
	switch v := v.(type) {
	case int:
		if v < 0 {
			b.add(path, "must not be negative (got %d)", v)
		}
	case time.Duration:
		if v < 0 {
			b.add(path, "must not be negative (got %v)", v)
		}
	}
}

func (b *builder) promptFile(path string, pc PromptConfig) {
	if strings.TrimSpace(pc.File) == "" {
		b.add(path+".file", "file is required")
	}
}

func (b *builder) languages() {
	c, t := b.c, b.t
	for _, name := range slices.Sorted(maps.Keys(c.Languages)) {
		path := pathPrefix + ".languages." + name
		lc := c.Languages[name]
		ln := strings.ToLower(strings.TrimSpace(name))
		switch {
		case ln == "":
			b.add(pathPrefix+".languages", "language with an empty name")
			continue
		case strings.Contains(ln, "/"):
			b.add(path, "language names must not contain \"/\"")
			continue
		case ln == t.defaultLang:
			b.add(path, "%q is the default language (menus.default_language): its prompts belong in menus.prompts", name)
			continue
		case len(lc.Prompts) == 0:
			b.add(path+".prompts", "no prompts: a language replaces at least one prompt of menus.prompts")
		}
		l := &language{name: ln, ids: make(map[string]string, len(lc.Prompts))}
		for _, pn := range slices.Sorted(maps.Keys(lc.Prompts)) {
			pc, ppath := lc.Prompts[pn], path+".prompts."+pn
			if _, ok := c.Prompts[pn]; !ok {
				b.add(ppath, "unknown prompt %q%s: a language only replaces prompts defined in menus.prompts", pn, hint(pn, c.Prompts))
				continue
			}
			b.promptFile(ppath, pc)
			id := ln + "/" + pn
			l.ids[pn] = id
			t.prompts[id] = pc
			t.refs = append(t.refs, PromptRef{ID: id, Name: pn, Language: ln, Path: ppath, PromptConfig: pc})
		}
		t.langs[ln] = l
	}
	slices.SortFunc(t.refs, func(a, b PromptRef) int { return strings.Compare(a.ID, b.ID) })
}

func (b *builder) schedule(name string, sc ScheduleConfig) {
	path := pathPrefix + ".schedules." + name
	if name == "" {
		b.add(pathPrefix+".schedules", "schedule with an empty name")
		return
	}
	s := &schedule{name: name, loc: time.UTC, holidays: map[date]bool{}}
	switch tz := strings.TrimSpace(sc.TimeZone); {
	case tz == "", tz == "UTC":
	case tz == "Local":
		b.add(path+".time_zone", "\"Local\" depends on the server: name a zone such as Asia/Shanghai")
	default:
		loc, err := time.LoadLocation(tz)
		if err != nil {
			b.add(path+".time_zone", "unknown time zone %q (want an IANA name such as Asia/Shanghai)", tz)
		} else {
			s.loc = loc
		}
	}
	if len(sc.Hours) == 0 {
		b.add(path+".hours", "no business hours: the schedule would always be closed")
	}
	for _, day := range slices.Sorted(maps.Keys(sc.Hours)) {
		days, err := parseDays(day)
		if err != nil {
			b.add(path+".hours."+day, "%v", err)
			continue
		}
		for i, period := range sc.Hours[day] {
			sp, err := parseSpan(period)
			if err != nil {
				b.add(path+".hours."+day+"."+strconv.Itoa(i), "%v", err)
				continue
			}
			for _, d := range days {
				s.week[d] = append(s.week[d], sp)
			}
		}
	}
	for i, h := range sc.Holidays {
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(h))
		if err != nil {
			b.add(path+".holidays."+strconv.Itoa(i), "bad date %q (want YYYY-MM-DD)", h)
			continue
		}
		s.holidays[date{d.Year(), d.Month(), d.Day()}] = true
	}
	b.t.schedules[name] = s
}

// promptRef checks a reference to a prompt by name.
func (b *builder) promptRef(path, name string, required bool) {
	if name == "" {
		if required {
			b.add(path, "prompt is required")
		}
		return
	}
	if _, ok := b.c.Prompts[name]; !ok {
		b.add(path, "unknown prompt %q%s", name, hint(name, b.c.Prompts))
	}
}

// nodeRef resolves a reference to a node by name.
func (b *builder) nodeRef(path, name, what string) *node {
	if name == "" {
		b.add(path, "%s needs a target node", what)
		return nil
	}
	n := b.t.nodes[name]
	if n == nil {
		b.add(path, "unknown node %q%s", name, hint(name, b.c.Nodes))
	}
	return n
}

// optionFields lists, for each action, the OptionConfig fields it uses.
var optionFields = map[string][]string{
	ActionGoto:        {"target"},
	ActionBack:        nil,
	ActionTop:         nil,
	ActionRepeat:      nil,
	ActionPlay:        {"prompt"},
	ActionCollect:     {"prompt", "variable", "min_digits", "max_digits", "terminator", "confirm", "readback_prompt", "confirm_prompt", "target"},
	ActionSetLanguage: {"language", "target"},
	ActionRouteTime:   {"schedule", "open", "closed"},
	ActionEnqueue:     {"queue", "priority", "prompt"},
	ActionFreeze:      {"prompt"},
	ActionTransfer:    {"uri", "trunk", "number", "timeout", "failed_prompt", "prompt"},
	ActionHangup:      {"prompt"},
}

// setFields lists the OptionConfig fields set in oc, action excluded.
func setFields(oc OptionConfig) []string {
	var out []string
	add := func(name string, set bool) {
		if set {
			out = append(out, name)
		}
	}
	add("target", oc.Target != "")
	add("prompt", oc.Prompt != "")
	add("variable", oc.Variable != "")
	add("min_digits", oc.MinDigits != 0)
	add("max_digits", oc.MaxDigits != 0)
	add("terminator", oc.Terminator != "")
	add("confirm", oc.Confirm)
	add("readback_prompt", oc.ReadbackPrompt != "")
	add("confirm_prompt", oc.ConfirmPrompt != "")
	add("queue", oc.Queue != "")
	add("priority", oc.Priority != 0)
	add("uri", oc.URI != "")
	add("trunk", oc.Trunk != "")
	add("number", oc.Number != "")
	add("timeout", oc.Timeout != 0)
	add("failed_prompt", oc.FailedPrompt != "")
	add("language", oc.Language != "")
	add("schedule", oc.Schedule != "")
	add("open", oc.Open != "")
	add("closed", oc.Closed != "")
	return out
}

// option checks and compiles one OptionConfig at path. It returns nil when
// the action itself is missing or unknown.
func (b *builder) option(path string, oc OptionConfig, w where) *option {
	a := oc.Action
	fields, known := optionFields[a]
	switch {
	case a == "":
		b.add(path+".action", "action is required (%s)", actionList())
		return nil
	case !known:
		b.add(path+".action", "unknown action %q (want %s)", a, actionList())
		return nil
	}
	if msg, ok := notBuilt[a]; ok && !b.o.Enabled[a] {
		b.add(path+".action", "action %s: %s", a, msg)
	}
	if w == whereLimit {
		switch a {
		case ActionRepeat, ActionPlay, ActionCollect, ActionSetLanguage:
			b.add(path+".action", "%s cannot end a limit: the caller would stay in the node (want goto, back, top, route_time, hangup, enqueue, freeze or transfer)", a)
		}
	}
	for _, f := range setFields(oc) {
		if slices.Contains(fields, f) {
			continue
		}
		if a == ActionGoto && f == "prompt" {
			b.add(path+"."+f, "not used by goto (the target node plays its own prompt)")
			continue
		}
		b.add(path+"."+f, "not used by %s", a)
	}
	o := &option{action: a, prompt: oc.Prompt}
	switch a {
	case ActionGoto:
		o.target = b.nodeRef(path+".target", oc.Target, "goto")
		o.broken = o.target == nil
	case ActionPlay:
		b.promptRef(path+".prompt", oc.Prompt, true)
	case ActionHangup, ActionFreeze:
		b.promptRef(path+".prompt", oc.Prompt, false)
	case ActionCollect:
		b.collect(path, oc, o)
	case ActionSetLanguage:
		l := strings.ToLower(strings.TrimSpace(oc.Language))
		switch _, ok := b.t.langs[l]; {
		case l == "":
			b.add(path+".language", "set_language needs a language")
		case !ok && l != b.t.defaultLang:
			b.add(path+".language", "unknown language %q (%s)", oc.Language, b.languageList())
		}
		if l != b.t.defaultLang {
			o.language = l
		}
		if oc.Target != "" {
			o.target = b.nodeRef(path+".target", oc.Target, "set_language")
			o.broken = o.target == nil
		}
	case ActionRouteTime:
		o.route = b.route(path, RouteTimeConfig{Schedule: oc.Schedule, Open: oc.Open, Closed: oc.Closed})
		o.broken = o.route.open == nil || o.route.closed == nil
	case ActionEnqueue:
		b.promptRef(path+".prompt", oc.Prompt, false)
		o.queue, o.priority = oc.Queue, oc.Priority
		if strings.TrimSpace(oc.Queue) == "" {
			b.add(path+".queue", "enqueue needs a queue name")
		}
		if oc.Priority < 0 {
			b.add(path+".priority", "must not be negative (got %d)", oc.Priority)
		}
	case ActionTransfer:
		b.transfer(path, oc, o)
	}
	return o
}

// transfer checks a transfer's target: a URI, or a trunk and a number, never both.
func (b *builder) transfer(path string, oc OptionConfig, o *option) {
	b.promptRef(path+".prompt", oc.Prompt, false)
	b.promptRef(path+".failed_prompt", oc.FailedPrompt, false)
	o.failed = oc.FailedPrompt
	o.timeout = cmp.Or(oc.Timeout, DefaultTransferTimeout)
	if oc.Timeout < 0 || oc.Timeout > MaxTransferTimeout {
		b.add(path+".timeout", "must be between 0 (default %s) and %s (got %s)", DefaultTransferTimeout, MaxTransferTimeout, oc.Timeout)
	}
	o.uri = strings.TrimSpace(oc.URI)
	o.trunk, o.number = strings.TrimSpace(oc.Trunk), strings.TrimSpace(oc.Number)
	if o.trunk != "" || o.number != "" {
		switch {
		case o.uri != "":
			b.add(path+".uri", "transfer takes a uri or a trunk and a number, not both")
		case o.trunk == "":
			b.add(path+".trunk", "a transfer to a number needs the trunk (a sip.trunks name) to dial it through")
		case o.number == "":
			b.add(path+".number", "a transfer through a trunk needs the number to dial")
		case !validNumber(o.number):
			b.add(path+".number", "%q is not a number (want digits with an optional leading +)", oc.Number)
		}
		return
	}
	switch lower := strings.ToLower(o.uri); {
	case o.uri == "":
		b.add(path+".uri", "transfer needs a SIP URI (sip:user@host), or a trunk and a number")
	case !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:"),
		strings.ContainsAny(o.uri, " \t<>\""), strings.HasSuffix(o.uri, ":"), strings.HasSuffix(o.uri, "@"):
		b.add(path+".uri", "%q is not a SIP URI (want sip:user@host or sips:user@host)", oc.URI)
	case strings.Count(o.uri, "${") != strings.Count(o.uri, "}"):
		b.add(path+".uri", "%q: unclosed ${", oc.URI)
	}
}

// validNumber reports whether s is digits with an optional leading +.
func validNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" || len(s) > MaxCollectDigit {
		return false
	}
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func (b *builder) languageList() string {
	names := slices.Sorted(maps.Keys(b.c.Languages))
	if b.t.defaultLang != "" {
		names = append([]string{b.t.defaultLang + " (default)"}, names...)
	}
	if len(names) == 0 {
		return "no languages defined: add menus.languages and menus.default_language"
	}
	return "defined: " + strings.Join(names, ", ")
}

func (b *builder) collect(path string, oc OptionConfig, o *option) {
	b.promptRef(path+".prompt", oc.Prompt, true)
	switch {
	case oc.Variable == "":
		b.add(path+".variable", "collect needs a variable name")
	case !validVariable(oc.Variable):
		b.add(path+".variable", "%q is not a variable name (letters, digits and _, not starting with a digit)", oc.Variable)
	}
	o.variable = oc.Variable
	o.minDigits = cmp.Or(oc.MinDigits, DefaultCollectMinDigits)
	o.maxDigits = cmp.Or(oc.MaxDigits, DefaultCollectMaxDigits)
	switch {
	case oc.MinDigits < 0:
		b.add(path+".min_digits", "must not be negative (got %d)", oc.MinDigits)
	case oc.MaxDigits < 0:
		b.add(path+".max_digits", "must not be negative (got %d)", oc.MaxDigits)
	case oc.MaxDigits > MaxCollectDigit:
		b.add(path+".max_digits", "at most %d (got %d)", MaxCollectDigit, oc.MaxDigits)
	case o.minDigits > o.maxDigits:
		b.add(path+".min_digits", "%d is more than max_digits %d", o.minDigits, o.maxDigits)
	}
	term := cmp.Or(oc.Terminator, DefaultCollectTerminator)
	if !validKey(term) || isDigit(term[0]) {
		b.add(path+".terminator", "invalid terminator %q (want * or #: digits are input)", term)
	} else {
		o.terminator = term[0]
	}
	if oc.Target != "" {
		o.target = b.nodeRef(path+".target", oc.Target, "collect")
		o.broken = o.target == nil
	}
	o.confirm = oc.Confirm
	if oc.Confirm {
		o.readback = cmp.Or(oc.ReadbackPrompt, b.c.ReadbackPrompt)
		o.confirmPrompt = cmp.Or(oc.ConfirmPrompt, b.c.ConfirmPrompt)
		if o.readback == "" {
			b.add(path+".readback_prompt", "confirm needs a read-back prompt (\"you entered\"): set it here or menus.readback_prompt")
		}
		if o.confirmPrompt == "" {
			b.add(path+".confirm_prompt", "confirm needs a confirm prompt (\"press 1 if correct, 2 to enter again\"): set it here or menus.confirm_prompt")
		}
		var missing []string
		for k := byte('0'); k <= '9'; k++ {
			if _, ok := b.c.DigitPrompts[string(k)]; !ok {
				missing = append(missing, string(k))
			}
		}
		if len(missing) > 0 {
			b.add(path+".confirm", "read-back needs menus.digit_prompts for every digit (missing %s)", strings.Join(missing, ", "))
		}
	} else {
		b.promptRef(path+".readback_prompt", oc.ReadbackPrompt, false)
		b.promptRef(path+".confirm_prompt", oc.ConfirmPrompt, false)
	}
	if oc.ReadbackPrompt != "" {
		b.promptRef(path+".readback_prompt", oc.ReadbackPrompt, false)
	}
	if oc.ConfirmPrompt != "" {
		b.promptRef(path+".confirm_prompt", oc.ConfirmPrompt, false)
	}
	b.collects = append(b.collects, collectRef{path, o})
}

// collectChecks reports global keys that would break a collect: the
// terminator, and the read-back's 1 and 2.
func (b *builder) collectChecks() {
	for _, c := range b.collects {
		if _, ok := b.t.globals[c.o.terminator]; ok && c.o.terminator != 0 {
			b.add(c.path+".terminator", "terminator %q is a global key (menus.global_keys.%c), which always wins", string(c.o.terminator), c.o.terminator)
		}
		if !c.o.confirm {
			continue
		}
		for _, k := range []byte{'1', '2'} {
			if _, ok := b.t.globals[k]; ok {
				b.add(c.path+".confirm", "the read-back answers with 1 (correct) and 2 (enter again), but %c is a global key (menus.global_keys.%c)", k, k)
			}
		}
	}
}

func validVariable(s string) bool {
	for i := range len(s) {
		c := s[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && isDigit(c)) {
			continue
		}
		return false
	}
	return s != ""
}

func (b *builder) route(path string, rc RouteTimeConfig) *route {
	r := &route{}
	switch s := b.t.schedules[rc.Schedule]; {
	case rc.Schedule == "":
		b.add(path+".schedule", "route_time needs a schedule")
	case s == nil:
		b.add(path+".schedule", "unknown schedule %q%s", rc.Schedule, hint(rc.Schedule, b.c.Schedules))
	default:
		r.sched = s
	}
	r.open = b.nodeRef(path+".open", rc.Open, "route_time open")
	r.closed = b.nodeRef(path+".closed", rc.Closed, "route_time closed")
	return r
}

// nodeFields lists the NodeConfig fields set in nc (route_time excluded).
func nodeFields(nc NodeConfig) []string {
	var out []string
	add := func(name string, set bool) {
		if set {
			out = append(out, name)
		}
	}
	add("greeting", nc.Greeting != "")
	add("prompt", nc.Prompt != "")
	add("short_greeting", nc.ShortGreeting != "")
	add("invalid_prompt", nc.InvalidPrompt != "")
	add("timeout_prompt", nc.TimeoutPrompt != "")
	add("exit_prompt", nc.ExitPrompt != "")
	add("digit_timeout", nc.DigitTimeout != 0)
	add("inter_digit_timeout", nc.InterDigitTimeout != 0)
	add("max_retries", nc.MaxRetries != 0)
	add("max_failures", nc.MaxFailures != 0)
	add("max_failures_action", nc.MaxFailuresAction != (OptionConfig{}))
	add("max_timeouts", nc.MaxTimeouts != 0)
	add("max_timeouts_action", nc.MaxTimeoutsAction != (OptionConfig{}))
	add("digit_len", nc.DigitLen != 0)
	add("terminator", nc.Terminator != "")
	add("options", len(nc.Options) > 0)
	add("patterns", len(nc.Patterns) > 0)
	return out
}

func (b *builder) node(n *node, nc NodeConfig, treeFail, treeTimeout *option) {
	c := b.c
	path := pathPrefix + ".nodes." + n.name
	if nc.RouteTime != (RouteTimeConfig{}) {
		n.route = b.route(path+".route_time", nc.RouteTime)
		for _, f := range nodeFields(nc) {
			b.add(path+"."+f, "not used by a route_time node (it passes the call on at once)")
		}
		return
	}
	if nc.Greeting != "" && nc.Prompt != "" && nc.Greeting != nc.Prompt {
		b.add(path+".prompt", "prompt is an alias of greeting: set one of them")
	}
	switch {
	case nc.Greeting != "":
		b.promptRef(path+".greeting", nc.Greeting, true)
	case nc.Prompt != "":
		b.promptRef(path+".prompt", nc.Prompt, true)
	default:
		b.add(path+".greeting", "greeting is required (or its alias prompt)")
	}
	b.promptRef(path+".short_greeting", nc.ShortGreeting, false)
	b.promptRef(path+".invalid_prompt", nc.InvalidPrompt, false)
	b.promptRef(path+".timeout_prompt", nc.TimeoutPrompt, false)
	b.promptRef(path+".exit_prompt", nc.ExitPrompt, false)
	n.greeting = cmp.Or(nc.Greeting, nc.Prompt)
	n.short = cmp.Or(nc.ShortGreeting, n.greeting)
	n.invalid = cmp.Or(nc.InvalidPrompt, c.InvalidPrompt)
	n.timeout = cmp.Or(nc.TimeoutPrompt, c.TimeoutPrompt)
	n.exit = cmp.Or(nc.ExitPrompt, c.GoodbyePrompt)

	b.nonNegative(path+".digit_timeout", nc.DigitTimeout)
	b.nonNegative(path+".inter_digit_timeout", nc.InterDigitTimeout)
	b.nonNegative(path+".max_retries", nc.MaxRetries)
	b.nonNegative(path+".max_failures", nc.MaxFailures)
	b.nonNegative(path+".max_timeouts", nc.MaxTimeouts)
	b.nonNegative(path+".digit_len", nc.DigitLen)
	n.digitTimeout = max(0, cmp.Or(nc.DigitTimeout, c.DigitTimeout, DefaultDigitTimeout))
	n.interDigit = max(0, cmp.Or(nc.InterDigitTimeout, c.InterDigitTimeout, DefaultInterDigitTimeout))
	n.maxFailures = max(0, cmp.Or(nc.MaxFailures, c.MaxFailures))
	n.maxTimeouts = max(0, cmp.Or(nc.MaxTimeouts, c.MaxTimeouts))
	n.maxRetries = max(0, cmp.Or(nc.MaxRetries, c.MaxRetries))
	if n.maxRetries == 0 && n.maxFailures == 0 && n.maxTimeouts == 0 {
		n.maxRetries = DefaultMaxRetries
	}
	n.failAction = b.limit(n, path, "max_failures", nc.MaxFailuresAction, treeFail, n.maxFailures)
	n.timeoutAction = b.limit(n, path, "max_timeouts", nc.MaxTimeoutsAction, treeTimeout, n.maxTimeouts)

	if nc.Terminator != "" {
		if !validKey(nc.Terminator) {
			b.add(path+".terminator", "invalid key %q (want one of 0-9, * or #)", nc.Terminator)
		} else {
			n.terminator = nc.Terminator[0]
		}
	}
	n.options = make(map[byte]*option, len(nc.Options))
	for _, k := range slices.Sorted(maps.Keys(nc.Options)) {
		op := path + ".options." + k
		o := b.option(op, nc.Options[k], whereOption)
		if !validKey(k) {
			b.add(op, "invalid key %q (want one of 0-9, * or #)", k)
			n.unsure = true
			continue
		}
		if _, ok := b.t.globals[k[0]]; ok {
			b.add(op, "key %s is a global key (menus.global_keys.%s), which wins at every node: this option is never chosen", k, k)
		}
		if k[0] == n.terminator {
			b.add(op, "key %s is the node's terminator", k)
		}
		if o != nil {
			o.key = k
			n.options[k[0]] = o
		}
		n.unsure = n.unsure || o == nil || o.broken
	}
	longest := 1
	for i, pc := range nc.Patterns {
		pp := path + ".patterns." + strconv.Itoa(i)
		o := b.option(pp, pc.OptionConfig, wherePattern)
		sets, err := parsePattern(strings.TrimSpace(pc.Match))
		n.unsure = n.unsure || err != nil || o == nil || o.broken
		if err != nil {
			b.add(pp+".match", "%v", err)
			continue
		}
		pt := &pattern{match: pc.Match, sets: sets, opt: o}
		b.patternChecks(n, nc, pp, pt)
		longest = max(longest, len(sets))
		if o != nil {
			o.key = pc.Match
			n.patterns = append(n.patterns, pt)
		}
	}
	n.digitLen = cmp.Or(nc.DigitLen, longest)
	if nc.DigitLen > MaxDigitLen {
		b.add(path+".digit_len", "at most %d (got %d)", MaxDigitLen, nc.DigitLen)
	}
	if _, ok := b.t.globals[n.terminator]; ok && n.terminator != 0 {
		b.add(path+".terminator", "terminator %q is a global key (menus.global_keys.%c), which wins on an entry's first key", string(n.terminator), n.terminator)
	}
	if n.terminator != 0 && n.digitLen < 2 {
		b.add(path+".terminator", "not used: the node takes one key per entry (set digit_len or patterns)")
	}
	n.announce = len(nc.Options) == 0 && len(nc.Patterns) == 0
}

// limit resolves a node's max_failures_action or max_timeouts_action.
func (b *builder) limit(n *node, path, name string, own OptionConfig, inherited *option, count int) *option {
	o := inherited
	from := pathPrefix + "." + name + "_action"
	if own != (OptionConfig{}) {
		from = path + "." + name + "_action"
		o = b.option(from, own, whereLimit)
		b.unsure = b.unsure || o == nil || o.broken
		if count == 0 {
			b.add(from, "not used: %s is not set", name)
		}
	}
	if o != nil && o.target == n && o.action == ActionGoto {
		b.add(path, "%s (%s) enters this node again, so the caller could never leave it", name+"_action", from)
	}
	return o
}

func (b *builder) patternChecks(n *node, nc NodeConfig, pp string, pt *pattern) {
	if nc.DigitLen > 0 && len(pt.sets) > nc.DigitLen {
		b.add(pp+".match", "pattern %q is %d keys long, but digit_len is %d", pt.match, len(pt.sets), nc.DigitLen)
	}
	for k := range len(validKeys) {
		key := validKeys[k]
		if !pt.sets[0].has(key) {
			continue
		}
		if _, ok := b.t.globals[key]; ok {
			b.add(pp+".match", "pattern %q can start with global key %c (menus.global_keys.%c), which always wins: leave %c out of its first key", pt.match, key, key, key)
		}
		if _, ok := nc.Options[string(key)]; ok && len(pt.sets) == 1 {
			b.add(pp+".match", "pattern %q matches key %c, which options.%c already binds (duplicate key)", pt.match, key, key)
		}
	}
	if n.terminator != 0 {
		for _, s := range pt.sets {
			if s.has(n.terminator) {
				b.add(pp+".match", "pattern %q uses the node's terminator %c", pt.match, n.terminator)
				break
			}
		}
	}
	for j, q := range n.patterns {
		if q.covers(pt) {
			b.add(pp+".match", "pattern %q never matches: patterns.%d (%q) matches every entry it does (first match wins)", pt.match, j, q.match)
			break
		}
	}
}

// routeLoops reports route_time nodes that route to each other in a loop.
func (b *builder) routeLoops() {
	state := map[*node]uint8{} // 1 visiting, 2 done
	var stack []*node
	var visit func(n *node) bool
	visit = func(n *node) bool {
		if n == nil || n.route == nil || state[n] == 2 {
			return false
		}
		if state[n] == 1 {
			i := slices.Index(stack, n)
			names := make([]string, 0, len(stack)-i+1)
			for _, s := range stack[i:] {
				names = append(names, s.name)
			}
			b.add(pathPrefix+".nodes."+n.name+".route_time", "route_time nodes route in a loop: %s → %s", strings.Join(names, " → "), n.name)
			for _, s := range stack[i:] {
				s.looped = true
			}
			return true
		}
		state[n] = 1
		stack = append(stack, n)
		loop := visit(n.route.open) || visit(n.route.closed)
		stack = stack[:len(stack)-1]
		state[n] = 2
		return loop
	}
	for _, name := range b.t.names {
		visit(b.t.nodes[name])
	}
}

// terminal reports whether an action ends the menu.
func terminal(a string) bool {
	switch a {
	case ActionHangup, ActionEnqueue, ActionFreeze, ActionTransfer:
		return true
	}
	return false
}

// moves returns the nodes an option can take the caller to from n (for
// back: none; the caller of moves handles it).
func (o *option) moves(n, root *node) []*node {
	switch o.action {
	case ActionGoto, ActionCollect, ActionSetLanguage:
		if o.target != nil {
			return []*node{o.target}
		}
	case ActionTop:
		return []*node{root}
	case ActionRouteTime:
		if o.route != nil {
			return []*node{o.route.open, o.route.closed}
		}
	}
	return nil
}

// choices lists what a caller can choose at n: its options, patterns and
// the global keys.
func (t *Tree) choices(n *node) []*option {
	out := make([]*option, 0, len(n.options)+len(n.patterns)+len(t.globals))
	for _, k := range []byte(validKeys) {
		if o := n.options[k]; o != nil {
			out = append(out, o)
		}
	}
	for _, p := range n.patterns {
		out = append(out, p.opt)
	}
	for _, k := range []byte(validKeys) {
		if o := t.globals[k]; o != nil {
			out = append(out, o)
		}
	}
	return out
}

// paths checks that every node is reachable, has a way forward, and that
// some choice of keys leads from it to an end of the menu.
func (b *builder) paths() {
	t := b.t
	idx := make(map[*node]int, len(t.names))
	nodes := make([]*node, len(t.names))
	for i, name := range t.names {
		nodes[i] = t.nodes[name]
		idx[nodes[i]] = i
	}
	// key[i]: nodes the caller's keys (or a route) take i to; all[i] adds
	// the limit actions.
	key := make([][]int, len(nodes))
	all := make([][]int, len(nodes))
	hasBack := make([]bool, len(nodes))
	ends := make([]bool, len(nodes))
	forward := make([]bool, len(nodes))
	link := func(i int, to *node, keyed bool) {
		if to == nil {
			return
		}
		j := idx[to]
		all[i] = append(all[i], j)
		if keyed {
			key[i] = append(key[i], j)
		}
		if j != i {
			forward[i] = true
		}
	}
	for i, n := range nodes {
		if n.route != nil {
			link(i, n.route.open, true)
			link(i, n.route.closed, true)
			ends[i] = n.looped // reported by routeLoops
			continue
		}
		if n.announce || n.unsure {
			ends[i], forward[i] = true, true
		}
		b.unsure = b.unsure || n.unsure
		for _, o := range t.choices(n) {
			switch {
			case terminal(o.action), o.broken: // a broken option has its own problem
				ends[i], forward[i] = true, true
			case o.action == ActionBack:
				hasBack[i] = true
				if n != t.root {
					forward[i] = true
				}
			}
			for _, m := range o.moves(n, t.root) {
				link(i, m, true)
			}
		}
		for _, o := range []*option{n.failAction, n.timeoutAction} {
			if o == nil {
				continue
			}
			for _, m := range o.moves(n, t.root) {
				link(i, m, false)
			}
		}
	}

	// Reachability over every edge, from the root.
	seen := make([]bool, len(nodes))
	queue := []int{idx[t.root]}
	seen[queue[0]] = true
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		for _, j := range all[i] {
			if !seen[j] {
				seen[j] = true
				queue = append(queue, j)
			}
		}
	}

	// Which nodes can end: backwards from the ends over key edges. A route
	// node needs both of its branches to end; back from i leads to any node
	// with an edge into i.
	rev := make([][]int, len(nodes))
	need := make([]int, len(nodes))
	for i := range nodes {
		for _, j := range key[i] {
			rev[j] = append(rev[j], i)
		}
		if nodes[i].route != nil {
			need[i] = len(slices.Compact(slices.Sorted(slices.Values(key[i]))))
		}
	}
	canEnd := make([]bool, len(nodes))
	queue = queue[:0]
	mark := func(i int) {
		if !canEnd[i] {
			canEnd[i] = true
			queue = append(queue, i)
		}
	}
	for i := range nodes {
		if ends[i] {
			mark(i)
		}
	}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		for _, p := range rev[m] {
			if nodes[p].route != nil {
				if need[p]--; need[p] > 0 {
					continue
				}
			}
			mark(p)
		}
		for _, s := range all[m] {
			if hasBack[s] {
				mark(s)
			}
		}
	}

	for i, n := range nodes {
		path := pathPrefix + ".nodes." + n.name
		switch {
		case !seen[i] && b.unsure:
		case !seen[i]:
			b.add(path, "unreachable from root node %q", t.root.name)
		case !forward[i] && n.route == nil:
			b.add(path, "no way forward: no option, pattern or global key leaves this node (add a goto, back, top or hangup option)")
		case !canEnd[i]:
			b.add(path, "every path from here loops without an end: no hangup, enqueue, freeze or transfer is reachable by keys (through %s)", b.loopNames(key, nodes, i))
		}
	}
}

// loopNames names a few nodes reachable from i by keys, for messages.
func (b *builder) loopNames(key [][]int, nodes []*node, i int) string {
	const most = 6
	seen := map[int]bool{i: true}
	queue := []int{i}
	var names []string
	for len(queue) > 0 && len(names) < most {
		j := queue[0]
		queue = queue[1:]
		names = append(names, nodes[j].name)
		for _, k := range key[j] {
			if !seen[k] {
				seen[k] = true
				queue = append(queue, k)
			}
		}
	}
	s := strings.Join(names, ", ")
	if len(queue) > 0 {
		s += ", …"
	}
	return s
}

// hint suggests the defined name that differs from name only in case: viper
// lower-cases map keys but not values, so "Billing" never matches a node
// declared as "billing:" in YAML.
func hint[V any](name string, defined map[string]V) string {
	var found []string
	for k := range defined {
		if k != name && strings.EqualFold(k, name) {
			found = append(found, k)
		}
	}
	if len(found) == 0 {
		return ""
	}
	slices.Sort(found)
	return fmt.Sprintf(" (did you mean %q? configuration keys are case-insensitive and read in lower case)", found[0])
}
