package workflowexpr

import (
	"encoding/json"
	"fmt"
)

// MaxResultBytes bounds a step result usable as a value (in `when` and in $(steps.X.result...)).
// A larger result is still an artifact; it just cannot steer or feed later steps.
const MaxResultBytes = 64 << 10

// ParseResult turns a result's bytes into a value: the parsed JSON when it parses
// (map[string]any, []any, string, float64, bool or nil), else the text itself.
// It is an error when b is over MaxResultBytes.
func ParseResult(b []byte) (any, error) {
	if len(b) > MaxResultBytes {
		return nil, fmt.Errorf("result is %d bytes, more than the %d a when expression or $(steps...result) reference may read", len(b), MaxResultBytes)
	}
	var v any
	if err := json.Unmarshal(b, &v); err == nil {
		return v, nil
	}
	return string(b), nil
}
