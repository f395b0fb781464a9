// Package defaults holds Hotline's embedded default configuration and demo prompts,
// compiled into the binary so that `hotline serve` runs with no files at all.
// It must not import any other package of the project.
package defaults

import "embed"

// FS holds hotline.yaml, accounts.yaml (demo accounts for the freeze lane), prompts/*.wav and prompts/digits/<lang>/<0-9>.wav. Prompt paths in hotline.yaml are relative to it.
//
//go:embed hotline.yaml accounts.yaml prompts
var FS embed.FS

// ConfigName is the name of the default configuration file inside FS.
const ConfigName = "hotline.yaml"

// AccountsName is the demo accounts file inside FS.
const AccountsName = "accounts.yaml"
