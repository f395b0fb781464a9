package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// Every config key outside maps and lists of structures has its HOTLINE_ variable, and it
// really sets the key, whether or not the file sets it (issue 11: HOTLINE_MAX_CALLS was
// ignored). The test walks the Config struct, so a key added later is covered too.
func TestConfig_EveryKeyHasItsEnvironmentVariable(t *testing.T) {
	leaves := envLeaves()
	if len(leaves) < 40 {
		t.Fatalf("only %d keys found: the walk misses sections", len(leaves))
	}
	for _, leaf := range leaves {
		t.Run(leaf.key, func(t *testing.T) {
			raw, want := envValue(t, leaf.typ)
			t.Setenv(envName(leaf.key), raw)
			l, err := loadConfig("")
			if err != nil {
				t.Fatalf("%s=%s: %v", envName(leaf.key), raw, err)
			}
			got := reflect.ValueOf(l.Config).FieldByIndex(leaf.index).Interface()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s=%s decoded as %#v, want %#v", envName(leaf.key), raw, got, want)
			}
		})
	}
}

// envValue is a value of type t as an environment variable, and as it should decode.
func envValue(t *testing.T, typ reflect.Type) (string, any) {
	t.Helper()
	if typ == durationType {
		return "7s", 7 * time.Second
	}
	switch typ.Kind() {
	case reflect.String:
		return "from-env", reflect.ValueOf("from-env").Convert(typ).Interface()
	case reflect.Bool:
		return "true", true
	case reflect.Int:
		return "7", 7
	case reflect.Uint16:
		return "7", uint16(7)
	case reflect.Float64:
		return "7.5", 7.5
	case reflect.Slice:
		if typ.Elem().Kind() == reflect.String {
			s := reflect.MakeSlice(typ, 0, 2)
			for _, v := range []string{"a", "b"} {
				s = reflect.Append(s, reflect.ValueOf(v).Convert(typ.Elem()))
			}
			return "a,b", s.Interface()
		}
	}
	t.Fatalf("no test value for %v", typ)
	return "", nil
}

// A HOTLINE_ variable that names no key is an error that says which, with a suggestion.
func TestConfig_UnknownEnvironmentVariable(t *testing.T) {
	t.Setenv("HOTLINE_MAX_CALL", "20")
	_, err := loadConfig("")
	if err == nil || !strings.Contains(err.Error(), "HOTLINE_MAX_CALL: names no config key (did you mean HOTLINE_MAX_CALLS?)") {
		t.Errorf("loadConfig: %v", err)
	}
}

// Kubernetes' service links for a Service named hotline are not config keys, nor errors.
func TestConfig_KubernetesServiceLinksIgnored(t *testing.T) {
	t.Setenv("HOTLINE_SERVICE_HOST", "10.0.0.7")
	t.Setenv("HOTLINE_PORT", "udp://10.0.0.7:5060")
	t.Setenv("HOTLINE_PORT_5060_UDP_ADDR", "10.0.0.7")
	if _, err := loadConfig(""); err != nil {
		t.Errorf("loadConfig: %v", err)
	}
}
