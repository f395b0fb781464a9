package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hotline-ivr/hotline/menus"
)

func graphCmd() *cobra.Command {
	var format string
	var enable []string
	cmd := &cobra.Command{
		Use:   "graph [FILE]",
		Short: "Draw the menu tree as Mermaid, Graphviz DOT or SVG",
		Long: "Prints the menus of FILE (the embedded default without one) as a graph: every node,\n" +
			"option, pattern, global key and time route, and the exits taken when timeouts, invalid\n" +
			"keys or retries exceed their limits (dashed). --format svg pipes the DOT through\n" +
			"Graphviz's `dot -Tsvg`, which must be installed.\n" +
			"Exit status as for validate: 1 the menus have problems, 2 the file cannot be read.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			return graph(cmd.OutOrStdout(), cmd.ErrOrStderr(), path, format, enable)
		},
	}
	cmd.Flags().StringVar(&format, "format", "mermaid", "mermaid, dot or svg")
	cmd.Flags().StringSliceVar(&enable, "enable", nil, "allow actions whose subsystem is not built yet: enqueue, freeze, transfer")
	return cmd
}

// errNoDot says that --format svg needs Graphviz.
var errNoDot = errors.New("graph --format svg needs Graphviz's dot, which is not on PATH: install graphviz, or use --format dot and render it elsewhere")

func graph(stdout, stderr io.Writer, path, format string, enable []string) error {
	switch format {
	case "mermaid", "dot", "svg":
	default:
		return fmt.Errorf("graph: unknown --format %q (want mermaid, dot or svg)", format)
	}
	var dotPath string
	if format == "svg" {
		var err error
		if dotPath, err = exec.LookPath("dot"); err != nil {
			return errNoDot
		}
	}
	l, tree, err := loadTree(stderr, path, enable)
	if err != nil {
		return err
	}
	g := tree.Graph()
	switch format {
	case "mermaid":
		_, err = io.WriteString(stdout, mermaid(g, l.Source))
		return err
	case "dot":
		_, err = io.WriteString(stdout, dot(g, l.Source))
		return err
	}
	var errb bytes.Buffer
	c := exec.Command(dotPath, "-Tsvg")
	c.Stdin = strings.NewReader(dot(g, l.Source))
	c.Stdout, c.Stderr = stdout, &errb
	if err := c.Run(); err != nil {
		return fmt.Errorf("graph: dot -Tsvg: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	return nil
}

// mermaid renders g as a Mermaid flowchart.
func mermaid(g menus.Graph, source string) string {
	var b strings.Builder
	ids := make(map[string]string, len(g.Nodes))
	for i, n := range g.Nodes {
		ids[n.ID] = "n" + strconv.Itoa(i)
	}
	fmt.Fprintf(&b, "%%%% hotline graph %s\n", source)
	b.WriteString("flowchart TD\n")
	for _, n := range g.Nodes {
		lines := make([]string, len(n.Lines))
		for i, l := range n.Lines {
			lines[i] = mermaidText(l)
		}
		if len(lines) > 0 && (n.Kind == menus.GraphMenu || n.Kind == menus.GraphAnnouncement || n.Kind == menus.GraphRoute) {
			lines[0] = "<b>" + lines[0] + "</b>"
			if n.Root {
				lines[0] += " (root)"
			}
		}
		label := `"` + strings.Join(lines, "<br/>") + `"`
		var shape string
		switch n.Kind {
		case menus.GraphRoute:
			shape = "{" + label + "}"
		case menus.GraphAnnouncement:
			shape = "[/" + label + "/]"
		case menus.GraphEnd:
			shape = "([" + label + "])"
		case menus.GraphBack:
			shape = "((" + label + "))"
		case menus.GraphGlobal:
			shape = "{{" + label + "}}"
		default:
			shape = "[" + label + "]"
		}
		fmt.Fprintf(&b, "  %s%s\n", ids[n.ID], shape)
	}
	for _, e := range g.Edges {
		arrow := "-->"
		switch e.Kind {
		case menus.EdgeLimit, menus.EdgeEnd:
			arrow = "-.->"
		case menus.EdgeGlobal:
			arrow = "==>"
		}
		fmt.Fprintf(&b, "  %s %s|\"%s\"| %s\n", ids[e.From], arrow, mermaidText(e.Label), ids[e.To])
	}
	for _, n := range g.Nodes {
		if n.Root {
			fmt.Fprintf(&b, "  style %s stroke-width:3px\n", ids[n.ID])
		}
	}
	return b.String()
}

// mermaidText escapes text for a quoted Mermaid label.
var mermaidText = strings.NewReplacer(`"`, "#quot;", "<", "#60;", ">", "#62;", "#", "#35;").Replace

// dot renders g as a Graphviz digraph.
func dot(g menus.Graph, source string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "// hotline graph %s\n", source)
	b.WriteString("digraph hotline {\n")
	b.WriteString("  rankdir=LR;\n")
	b.WriteString("  node [fontname=\"Helvetica\", fontsize=11, shape=box, style=rounded];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=10];\n")
	for _, n := range g.Nodes {
		attrs := []string{"label=" + dotQuote(strings.Join(n.Lines, "\n"))}
		switch n.Kind {
		case menus.GraphRoute:
			attrs = append(attrs, "shape=diamond", "style=solid")
		case menus.GraphAnnouncement:
			attrs = append(attrs, "shape=note", "style=solid")
		case menus.GraphEnd:
			attrs = append(attrs, "shape=ellipse", "style=filled", "fillcolor=gray90")
		case menus.GraphBack:
			attrs = append(attrs, "shape=circle", "style=dashed")
		case menus.GraphGlobal:
			attrs = append(attrs, "shape=hexagon", "style=bold", "color=red")
		}
		if n.Root {
			attrs = append(attrs, "penwidth=3")
		}
		fmt.Fprintf(&b, "  %s [%s];\n", dotQuote(n.ID), strings.Join(attrs, ", "))
	}
	for _, e := range g.Edges {
		attrs := []string{"label=" + dotQuote(e.Label)}
		switch e.Kind {
		case menus.EdgeLimit, menus.EdgeEnd:
			attrs = append(attrs, "style=dashed", "color=gray40")
		case menus.EdgeGlobal:
			attrs = append(attrs, "style=bold", "color=red")
		case menus.EdgeRoute:
			attrs = append(attrs, "color=blue")
		}
		fmt.Fprintf(&b, "  %s -> %s [%s];\n", dotQuote(e.From), dotQuote(e.To), strings.Join(attrs, ", "))
	}
	b.WriteString("}\n")
	return b.String()
}

// dotQuote quotes s as a DOT string; newlines become \n line breaks.
func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
