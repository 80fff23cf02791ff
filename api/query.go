package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// boolValue reads a boolean query parameter as dockerd does: absent, "",
// "0", "no", "false" and "none" are false, anything else is true.
func boolValue(r *http.Request, key string) bool {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(key))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// boolValueOr is boolValue with a default for an absent parameter.
func boolValueOr(r *http.Request, key string, def bool) bool {
	if _, ok := r.URL.Query()[key]; !ok {
		return def
	}
	return boolValue(r, key)
}

// intValue reads an optional integer parameter; absent or "" gives nil.
func intValue(r *http.Request, key string) (*int, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, invalidf("invalid value for %s: %q", key, v)
	}
	return &n, nil
}

// decodeFilters reads the "filters" parameter. Both the current form
// {"name":{"web":true}} and the older list form {"name":["web"]} (sent by
// the Python SDK) are accepted; malformed JSON is an invalid argument.
func decodeFilters(raw string) (Filters, error) {
	if raw == "" {
		return nil, nil
	}
	var generic map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &generic); err != nil {
		return nil, invalidf("invalid filters: %v", err)
	}
	f := Filters{}
	for k, v := range generic {
		set := map[string]bool{}
		if err := json.Unmarshal(v, &set); err != nil {
			var list []string
			if err := json.Unmarshal(v, &list); err != nil {
				return nil, invalidf("invalid filter %q: %v", k, err)
			}
			for _, item := range list {
				set[item] = true
			}
		}
		f[k] = set
	}
	return f, nil
}
