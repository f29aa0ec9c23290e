package analysis

import (
	"os"
	"testing"

	"github.com/vitprobe/vitprobe/torchx"
)

// TestMain tunes malloc as the commands do at start-up
// (torchx.KeepFreedMemory), so that the benchmarks measure the code as the
// commands run it.
func TestMain(m *testing.M) {
	torchx.KeepFreedMemory()
	os.Exit(m.Run())
}
