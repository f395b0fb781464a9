package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hotline-ivr/hotline/queue/store"
)

func freezesCmd() *cobra.Command {
	var cfgPath, dataDir string
	var limit int
	c := &cobra.Command{Use: "freezes", Short: "The freeze lane's records"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List recorded freezes, newest first, from the store in the data directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			dir, err := l.dataDir(dataDir)
			if err != nil {
				return err
			}
			path := filepath.Join(dir, "hotline.db")
			if _, err := os.Stat(path); err != nil {
				return fmt.Errorf("no store at %s (has the server run with freeze.enabled?): %w", path, err)
			}
			db, err := store.Open(path)
			if err != nil {
				return err
			}
			defer db.Close()
			fr, err := db.ListFreezes(cmd.Context(), limit)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "REFERENCE\tACCOUNT\tCALLER\tFROZEN AT\tSTATE\tCALL-ID")
			for _, f := range fr {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Reference, f.Account, f.CallerID,
					f.CreatedAt.Local().Format("2006-01-02 15:04:05"), f.State, f.CallID)
			}
			return w.Flush()
		},
	}
	list.Flags().StringVar(&cfgPath, "config", "", "config file (for data_dir); default: the embedded default")
	list.Flags().StringVar(&dataDir, "data", "", "data directory; default data_dir or ~/.local/share/hotline")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many")
	c.AddCommand(list)
	return c
}
