package api

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// issueTokens makes one API token per name with the scopes given, and
// returns the set the API checks against and each name's secret.
func issueTokens(t *testing.T, scopes map[string][]apitoken.Scope) (*apitoken.Set, map[string]string) {
	t.Helper()
	secrets := make(map[string]string, len(scopes))
	var toks []apitoken.Token
	for name, sc := range scopes {
		tok, secret, err := apitoken.New(name, sc)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
		secrets[name] = secret
	}
	set, err := apitoken.NewSet(toks...)
	if err != nil {
		t.Fatal(err)
	}
	return set, secrets
}
