package sqlite_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/storetest"
)

func TestTenantCarve(t *testing.T) {
	t.Parallel()
	storetest.TenantCarve(t, openDriver, carveConfig)
}
