package cli

import (
	"bytes"
	"context"
	"fmt"
	"runtime"

	"github.com/sluicehq/sluice"
)

// bootstrapOperator makes sure the default tenant and its operator key
// exist, and says whether it created them (the first start). With a
// configured token the key's hash follows it, on every start: that is how
// a lost operator token is replaced. Without one a token is generated on
// the first start and returned so the caller can show it once. It returns
// "" when there is nothing to show.
func bootstrapOperator(ctx context.Context, store sluice.Store, configured string) (token string, created bool, err error) {
	key, err := store.OperatorKey(ctx)
	switch {
	case err == nil && configured != "":
		if want := sluice.HashToken(configured); !bytes.Equal(key.TokenHash, want) {
			if err := store.SetTokenHash(ctx, key.ID, want); err != nil {
				return "", false, fmt.Errorf("set operator token: %w", err)
			}
		}
		return "", false, nil
	case err == nil:
		return "", false, nil
	case sluice.ErrorCode(err) != sluice.ENOTFOUND:
		return "", false, fmt.Errorf("find operator key: %w", err)
	}
	token = configured
	if token == "" {
		token = sluice.NewToken()
	}
	tenant := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "default"}
	op := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "operator", Role: sluice.RoleAdmin,
		Operator: true, TokenHash: sluice.HashToken(token)}
	err = store.CreateTenant(ctx, tenant, op)
	if sluice.ErrorCode(err) == sluice.ECONFLICT {
		// Another process sharing the store made it first: use theirs.
		if _, ferr := store.OperatorKey(ctx); ferr == nil {
			return bootstrapOperator(ctx, store, configured)
		}
	}
	if err != nil {
		return "", false, fmt.Errorf("create default tenant: %w", err)
	}
	if configured != "" {
		return "", true, nil
	}
	return token, true, nil
}

func versionString() string { return sluice.Version + " " + runtime.Version() }
