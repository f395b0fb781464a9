package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hotline-ivr/hotline/cmd/hotline/defaults"
	"github.com/hotline-ivr/hotline/ivr"
)

// loadAccounts reads the freeze lane's accounts file (YAML, or CSV: id,name,caller_ids
// separated by spaces,check). A missing default file is created with the demo accounts.
func loadAccounts(dataDir, name string) (*ivr.Accounts, string, error) {
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(dataDir, name)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && name == "accounts.yaml" {
		if data, err = fs.ReadFile(defaults.FS, defaults.AccountsName); err == nil {
			err = os.WriteFile(path, data, 0o600)
		}
	}
	if err != nil {
		return nil, path, fmt.Errorf("freeze.accounts: %w", err)
	}
	var list []ivr.Account
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			return nil, path, fmt.Errorf("freeze.accounts: %s: %w", path, err)
		}
		for i, r := range rows {
			if i == 0 && len(r) > 0 && r[0] == "id" {
				continue // header
			}
			if len(r) < 3 {
				return nil, path, fmt.Errorf("freeze.accounts: %s: row %d: want id,name,caller_ids[,check]", path, i+1)
			}
			a := ivr.Account{ID: r[0], Name: r[1], CallerIDs: strings.Fields(r[2])}
			if len(r) > 3 {
				a.Check = r[3]
			}
			list = append(list, a)
		}
	} else {
		var doc struct {
			Accounts []ivr.Account `yaml:"accounts"`
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&doc); err != nil {
			return nil, path, fmt.Errorf("freeze.accounts: %s: %w", path, err)
		}
		list = doc.Accounts
	}
	accts, err := ivr.NewAccounts(list)
	if err != nil {
		return nil, path, fmt.Errorf("freeze.accounts: %s: %w", path, err)
	}
	return accts, path, nil
}
