package postgres_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/storetest"
	"github.com/sluicehq/sluice/internal/testkit"
)

func TestTenantCarve(t *testing.T) {
	testkit.DatabaseURL(t)
	t.Parallel()
	storetest.TenantCarve(t, openDriver, carveConfig)
}
