// Command hotline is Hotline's single binary: serve, validate, call.
// It is the only importer of viper and os/signal (STYLE.md P5); it wires concrete types.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "hotline",
		Short:         "Hotline: an IVR telephony and call-queue engine",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), validateCmd(), callCmd(), tonesCmd(), freezesCmd(), simulateCmd(), graphCmd(), certCmd())
	if err := root.Execute(); err != nil {
		if e, ok := err.(exitError); ok {
			os.Exit(e.code)
		}
		fmt.Fprintln(os.Stderr, "hotline:", err)
		os.Exit(1)
	}
}

// exitError exits with a code after the command printed its own message.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }
