package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vitprobe/vitprobe/internal/shard"
)

// Names is how a job names its journals in its output folder: one name for
// a single process, and a pattern with the shard index and count (two %d)
// for each shard of a sharded run.
type Names struct {
	// Single is the journal of an unsharded run, e.g. "journal.jsonl".
	Single string
	// Shard is the journal of shard i of n, e.g.
	// "journal-shard-%d-of-%d.jsonl".
	Shard string
}

// Path returns the journal of shard s in dir (Single when s is the only
// shard).
func (n Names) Path(dir string, s shard.Shard) string {
	if s.Count <= 1 {
		return filepath.Join(dir, n.Single)
	}
	return filepath.Join(dir, fmt.Sprintf(n.Shard, s.Index, s.Count))
}

// Shards returns the journals of every shard of the sharded run in dir, in
// shard order. It fails, saying what to do, when dir holds none, holds the
// journals of runs split different ways, or lacks some shard's.
func (n Names) Shards(dir string) ([]string, error) {
	glob := strings.ReplaceAll(n.Shard, "%d", "*")
	found, err := filepath.Glob(filepath.Join(dir, glob))
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(n.Shard), "%d", `(\d+)`) + "$")
	counts := map[int]bool{}
	for _, f := range found {
		if m := re.FindStringSubmatch(filepath.Base(f)); m != nil {
			c, _ := strconv.Atoi(m[2])
			counts[c] = true
		}
	}
	var ns []int
	for c := range counts {
		ns = append(ns, c)
	}
	slices.Sort(ns)
	switch len(ns) {
	case 0:
		return nil, fmt.Errorf("no shard journals (%s) in %s", glob, dir)
	case 1:
	default:
		return nil, fmt.Errorf("%s holds journals of runs split %v ways; keep one set", dir, ns)
	}
	paths := make([]string, ns[0])
	var missing []string
	for i := range paths {
		paths[i] = n.Path(dir, shard.Shard{Index: i, Count: ns[0]})
		if _, err := os.Stat(paths[i]); err != nil {
			missing = append(missing, filepath.Base(paths[i]))
		}
	}
	if len(missing) > 0 {
		k := len(missing)
		if k > 4 {
			missing = append(missing[:4], "...")
		}
		return nil, fmt.Errorf("%d of %d shard journals are missing in %s (%s): run those shards first",
			k, ns[0], dir, strings.Join(missing, ", "))
	}
	return paths, nil
}
