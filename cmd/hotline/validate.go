package main

import (
	"errors"
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
		printProblems(stderr, path, err)
		return exitError{exitUnusable}
	}
	var errs []error
	if err := l.SIP.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := l.Media.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := buildMenu(l); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		printProblems(stderr, path, err)
		return exitError{exitInvalid}
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return nil
}

// printProblems prints one line per problem, each prefixed with the file name.
func printProblems(w io.Writer, path string, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if !strings.HasPrefix(line, path+":") {
			line = path + ": " + line
		}
		fmt.Fprintln(w, line)
	}
}
