package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of `hotline validate`.
const (
	exitInvalid  = 1 // the file was read and has problems
	exitUnusable = 2 // the file could not be read or parsed at all
)

func validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a config file; exit 0 if valid, else print one line per problem",
		Long: "Checks FILE as `hotline serve --config FILE` would, without serving.\n" +
			"Exit status: 0 valid, 1 problems found (one line each: FILE: key.path: message),\n" +
			"2 the file could not be read or parsed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return validate(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0])
		},
	}
}

func validate(stdout, stderr io.Writer, path string) error {
	l, err := loadConfig(path)
	if err != nil {
		fmt.Fprintln(stderr, strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return exitError{exitUnusable}
	}
	if _, err := buildMenu(l); err != nil {
		loc := newLocator(path)
		if l.MenusFile != "" {
			loc.sub = map[string]*locator{"menus": newLocator(l.MenusFile)}
		}
		for _, line := range problemLines(err) {
			fmt.Fprintln(stderr, loc.format(line))
		}
		return exitError{exitInvalid}
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return nil
}
