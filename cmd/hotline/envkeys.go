package main

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// envPrefix starts every environment variable that sets a config key.
const envPrefix = "HOTLINE_"

// menusKey is the config key whose environment variable (HOTLINE_MENUS) names a file
// holding the menus section, rather than setting a value.
const menusKey = "menus"

var durationType = reflect.TypeOf(time.Duration(0))

// envLeaf is a config key an environment variable can set, and where it is in Config.
type envLeaf struct {
	key   string
	index []int // reflect.Value.FieldByIndex into Config
	typ   reflect.Type
}

// envLeaves lists every config key an environment variable can set: each leaf of
// Config's mapstructure tree (scalars and lists of scalars), sorted by key. Maps and lists
// of structures (queues, agents, trunks, registrar accounts, DTMF endpoints) are set in
// the file only, and the menus section is a file of its own (HOTLINE_MENUS).
func envLeaves() []envLeaf {
	var out []envLeaf
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			idx := append(slices.Clone(index), i)
			name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			if name == "-" {
				continue
			}
			if opts == "squash" || (f.Anonymous && name == "") {
				walk(f.Type, prefix, idx)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			key := prefix + name
			ft := f.Type
			switch {
			case key == menusKey:
			case ft.Kind() == reflect.Struct && ft != durationType:
				walk(ft, key+".", idx)
			case ft.Kind() == reflect.Map:
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			case ft.Kind() == reflect.Pointer, ft.Kind() == reflect.Interface, ft.Kind() == reflect.Func:
			default:
				out = append(out, envLeaf{key: key, index: idx, typ: ft})
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "", nil)
	slices.SortFunc(out, func(a, b envLeaf) int { return strings.Compare(a.key, b.key) })
	return out
}

// envKeys lists the keys of envLeaves.
func envKeys() []string {
	var keys []string
	for _, l := range envLeaves() {
		keys = append(keys, l.key)
	}
	return keys
}

// envName is the environment variable that sets key.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// unknownEnv reports every HOTLINE_* variable in environ that names no config key: a typo
// there would otherwise be ignored without a word.
func unknownEnv(environ []string) error {
	known := map[string]bool{envName(menusKey): true}
	for _, k := range envKeys() {
		known[envName(k)] = true
	}
	var bad []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix) && !known[name] && !serviceLink(name) {
			msg := name + ": names no config key"
			if s := closest(name, known); s != "" {
				msg += " (did you mean " + s + "?)"
			}
			bad = append(bad, msg)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return fmt.Errorf("environment: %s", strings.Join(bad, "; "))
}

// serviceLink reports the variables Kubernetes injects for a Service named "hotline"
// (HOTLINE_SERVICE_HOST, HOTLINE_SERVICE_PORT_SIP, HOTLINE_PORT, HOTLINE_PORT_5060_UDP_ADDR,
// ...): they name no key, and are not typos.
func serviceLink(name string) bool {
	return strings.HasPrefix(name, envPrefix+"SERVICE_") || name == envPrefix+"PORT" ||
		strings.HasPrefix(name, envPrefix+"PORT_")
}

// closest returns the known name nearest to name by edit distance, if it is near enough
// to be a typo (at most 3 edits).
func closest(name string, known map[string]bool) string {
	best, bestD := "", 4
	for k := range known {
		if d := editDistance(name, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
