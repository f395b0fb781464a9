package menus

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Graph is a tree drawn as nodes and edges, for `hotline graph` to render as
// Mermaid or Graphviz DOT. Nodes come root first, then by name, then the
// pseudo nodes (ends, back, global keys); edges in a fixed order.
type Graph struct {
	Nodes []GraphNode
	Edges []GraphEdge
}

// Kinds of GraphNode.
const (
	GraphMenu         = "menu"         // a node with options or patterns
	GraphAnnouncement = "announcement" // a node that plays and hangs up
	GraphRoute        = "route"        // a route_time node
	GraphEnd          = "end"          // pseudo node: the menu ends (hang up, enqueue, freeze, transfer)
	GraphBack         = "back"         // pseudo node: back to the previous node
	GraphGlobal       = "global"       // pseudo node: the global keys, valid at every node
)

// Kinds of GraphEdge.
const (
	EdgeKey    = "key"    // an option or a pattern
	EdgeGlobal = "global" // a global key
	EdgeRoute  = "route"  // a route_time branch
	EdgeLimit  = "limit"  // a limit exceeded: timeouts, invalid keys, retries
	EdgeEnd    = "end"    // an announcement finished
)

// GraphNode is a node of a Graph.
type GraphNode struct {
	// ID is unique: a node's name, or for pseudo nodes "(hangup)",
	// "(enqueue sales)", "(freeze)", "(transfer sip:…)", "(back)",
	// "(global)".
	ID   string
	Kind string
	// Lines describe the node: its name, what it plays, and the options
	// that keep the caller in it (play, repeat, collect without target).
	Lines []string
	Root  bool
}

// GraphEdge is an edge of a Graph.
type GraphEdge struct {
	From, To string
	Label    string
	Kind     string
}

type graphBuilder struct {
	t      *Tree
	g      Graph
	pseudo map[string]GraphNode
}

// Graph returns the tree as nodes and edges: every option, pattern, global
// key, route branch, and the exits taken when timeouts, invalid keys or
// retries exceed their limits.
func (t *Tree) Graph() Graph {
	b := &graphBuilder{t: t, pseudo: map[string]GraphNode{}}
	names := slices.Clone(t.names)
	if i := slices.Index(names, t.root.name); i > 0 {
		names = slices.Insert(slices.Delete(names, i, i+1), 0, t.root.name)
	}
	for _, name := range names {
		b.node(t.nodes[name])
	}
	if len(t.globals) > 0 {
		gn := GraphNode{ID: "(global)", Kind: GraphGlobal, Lines: []string{"global keys (every node)"}}
		for _, k := range []byte(validKeys) {
			if o := t.globals[k]; o != nil {
				gn.Lines = append(gn.Lines, b.option(gn.ID, string(k), o, EdgeGlobal, nil)...)
			}
		}
		b.pseudo[gn.ID] = gn
	}
	for _, id := range slices.Sorted(maps.Keys(b.pseudo)) {
		b.g.Nodes = append(b.g.Nodes, b.pseudo[id])
	}
	return b.g
}

func (b *graphBuilder) edge(from, to, label, kind string) {
	b.g.Edges = append(b.g.Edges, GraphEdge{From: from, To: to, Label: label, Kind: kind})
}

func (b *graphBuilder) end(id, label string) string {
	b.pseudo[id] = GraphNode{ID: id, Kind: GraphEnd, Lines: []string{label}}
	return id
}

func (b *graphBuilder) node(n *node) {
	gn := GraphNode{ID: n.name, Root: n == b.t.root, Lines: []string{n.name}}
	switch {
	case n.route != nil:
		gn.Kind = GraphRoute
		gn.Lines = append(gn.Lines, "schedule "+n.route.sched.name)
		b.g.Nodes = append(b.g.Nodes, gn)
		b.edge(n.name, n.route.open.name, "open", EdgeRoute)
		b.edge(n.name, n.route.closed.name, "closed", EdgeRoute)
		return
	case n.announce:
		gn.Kind = GraphAnnouncement
		gn.Lines = append(gn.Lines, "plays "+n.greeting)
		b.g.Nodes = append(b.g.Nodes, gn)
		b.edge(n.name, b.end("(hangup)", "hang up"), "after the greeting", EdgeEnd)
		return
	}
	gn.Kind = GraphMenu
	play := "plays " + n.greeting
	if n.short != n.greeting {
		play += ", then " + n.short
	}
	gn.Lines = append(gn.Lines, play)
	i := len(b.g.Nodes)
	b.g.Nodes = append(b.g.Nodes, gn)
	var stay []string
	for _, k := range []byte(validKeys) {
		if o := n.options[k]; o != nil {
			stay = append(stay, b.option(n.name, string(k), o, EdgeKey, n)...)
		}
	}
	for _, p := range n.patterns {
		stay = append(stay, b.option(n.name, p.match, p.opt, EdgeKey, n)...)
	}
	if n.maxFailures > 0 {
		b.limit(n, "invalid > "+strconv.Itoa(n.maxFailures), n.failAction)
	}
	if n.maxTimeouts > 0 {
		b.limit(n, "timeouts > "+strconv.Itoa(n.maxTimeouts), n.timeoutAction)
	}
	if n.maxRetries > 0 {
		b.limit(n, "failures > "+strconv.Itoa(n.maxRetries), nil)
	}
	b.g.Nodes[i].Lines = append(b.g.Nodes[i].Lines, stay...)
}

func (b *graphBuilder) limit(n *node, label string, o *option) {
	if o == nil {
		b.edge(n.name, b.end("(hangup)", "hang up"), label, EdgeLimit)
		return
	}
	b.option(n.name, label, o, EdgeLimit, n)
}

// option adds the edges of one option and returns the lines describing it
// when it keeps the caller in the node.
func (b *graphBuilder) option(from, key string, o *option, kind string, n *node) []string {
	sep := func(s string) string {
		if kind == EdgeLimit {
			return key + ": " + s
		}
		return key + " " + s
	}
	switch o.action {
	case ActionGoto:
		b.edge(from, o.target.name, key, kind)
	case ActionTop:
		b.edge(from, b.t.root.name, sep("top"), kind)
	case ActionBack:
		b.pseudo["(back)"] = GraphNode{ID: "(back)", Kind: GraphBack, Lines: []string{"back to the previous node"}}
		b.edge(from, "(back)", sep("back"), kind)
	case ActionRouteTime:
		name := o.route.sched.name
		b.edge(from, o.route.open.name, sep(name+" open"), kind)
		b.edge(from, o.route.closed.name, sep(name+" closed"), kind)
	case ActionCollect:
		if o.target == nil {
			return []string{key + ": collect " + o.variable}
		}
		b.edge(from, o.target.name, sep("collect "+o.variable), kind)
	case ActionSetLanguage:
		lang := cmp.Or(o.language, b.t.defaultLang, "default")
		if o.target == nil {
			return []string{key + ": language " + lang}
		}
		b.edge(from, o.target.name, sep("language "+lang), kind)
	case ActionPlay:
		return []string{key + ": play " + o.prompt}
	case ActionRepeat:
		return []string{key + ": repeat"}
	case ActionHangup:
		b.edge(from, b.end("(hangup)", "hang up"), key, kind)
	case ActionEnqueue:
		b.edge(from, b.end("(enqueue "+o.queue+")", "enqueue "+o.queue), sep("priority "+strconv.Itoa(o.priority)), kind)
	case ActionFreeze:
		b.edge(from, b.end("(freeze)", "freeze lane"), key, kind)
	case ActionTransfer:
		t := o.uri
		if t == "" {
			t = o.trunk + ":" + o.number
		}
		b.edge(from, b.end("(transfer "+t+")", "transfer "+t), key, kind)
	}
	return nil
}

// String renders g as plain text, one node or edge per line (for tests and
// debugging).
func (g Graph) String() string {
	var b strings.Builder
	for _, n := range g.Nodes {
		b.WriteString(n.Kind + " " + n.ID + ": " + strings.Join(n.Lines, " | ") + "\n")
	}
	for _, e := range g.Edges {
		b.WriteString(e.From + " -> " + e.To + " [" + e.Kind + "] " + e.Label + "\n")
	}
	return b.String()
}
