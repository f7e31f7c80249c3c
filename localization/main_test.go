package localization

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: a
// stalled handler never released, a fetch that outlived its Refresh.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
