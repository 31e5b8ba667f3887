package config

import (
	"errors"
	"strings"
	"testing"
)

// TestAPITokenStrongAndWhole: a token of whitespace does not silently mean
// "no token", and a short one is refused, naming the variable (issue 13,
// finding 5).
func TestAPITokenStrongAndWhole(t *testing.T) {
	strong := strings.Repeat("a1", 16)
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"unset", "", true},
		{"32 bytes", strong, true},
		{"a space", " ", false},
		{"tabs", "\t\t", false},
		{"one character", "x", false},
		{"31 bytes", strong[:31], false},
		{"inner space", strong[:16] + " " + strong[16:], false},
		{"surrounding space", " " + strong + " ", false},
	}
	for _, tt := range tests {
		c, _, err := parse(nil, map[string]string{"LIFECYCLE_API_TOKEN": tt.token})
		var ce *Error
		switch {
		case tt.ok && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.ok && c.APIToken.Value() != tt.token:
			t.Errorf("%s: token %q", tt.name, c.APIToken.Value())
		case !tt.ok && (!errors.As(err, &ce) || ce.Name != "LIFECYCLE_API_TOKEN"):
			t.Errorf("%s: %v, want an error naming LIFECYCLE_API_TOKEN", tt.name, err)
		case !tt.ok && strings.Contains(err.Error(), strong[:16]):
			t.Errorf("%s: the error shows the token: %v", tt.name, err)
		}
	}
}
