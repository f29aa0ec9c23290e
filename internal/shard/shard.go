// Package shard splits a job's work items among the processes of a batch
// system: `--shard i/n` on the command line, or the task index that Slurm
// job arrays and Kubernetes Indexed Jobs put in the environment.
package shard

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Shard is one part of n: it owns the items i with i mod Count == Index.
// The zero value is not valid; use All for "everything".
type Shard struct {
	Index int
	Count int
}

// All is the single shard that owns every item.
var All = Shard{Index: 0, Count: 1}

// String formats s as "i/n".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Owns reports whether item i belongs to s.
func (s Shard) Owns(i int) bool { return i%s.Count == s.Index }

// Parse reads "i/n" with 0 <= i < n.
func Parse(v string) (Shard, error) {
	a, b, ok := strings.Cut(v, "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want i/n, e.g. 0/4", v)
	}
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q: want i/n with integers, e.g. 0/4", v)
	}
	return New(i, n)
}

// New returns shard i of n, checking 0 <= i < n.
func New(i, n int) (Shard, error) {
	if n < 1 {
		return Shard{}, fmt.Errorf("shard %d/%d: the count must be at least 1", i, n)
	}
	if i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard %d/%d: the index must be in 0..%d", i, n, n-1)
	}
	return Shard{Index: i, Count: n}, nil
}

// CountEnv names the variable that gives the shard count to a Kubernetes
// Indexed Job, whose pods only get their index (JOB_COMPLETION_INDEX).
const CountEnv = "VITPROBE_SHARD_COUNT"

// FromEnv returns the shard the environment assigns, if any:
// SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN) of SLURM_ARRAY_TASK_COUNT,
// or JOB_COMPLETION_INDEX of $VITPROBE_SHARD_COUNT. ok is false when neither
// is set.
func FromEnv(getenv func(string) string) (s Shard, ok bool, err error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	atoi := func(name string) (int, error) {
		v, err := strconv.Atoi(getenv(name))
		if err != nil {
			return 0, fmt.Errorf("shard: %s=%q is not an integer", name, getenv(name))
		}
		return v, nil
	}
	if getenv("SLURM_ARRAY_TASK_ID") != "" {
		id, err := atoi("SLURM_ARRAY_TASK_ID")
		if err != nil {
			return Shard{}, false, err
		}
		n, err := atoi("SLURM_ARRAY_TASK_COUNT")
		if err != nil {
			return Shard{}, false, err
		}
		lo := 0
		if getenv("SLURM_ARRAY_TASK_MIN") != "" {
			if lo, err = atoi("SLURM_ARRAY_TASK_MIN"); err != nil {
				return Shard{}, false, err
			}
		}
		s, err := New(id-lo, n)
		if err != nil {
			return Shard{}, false, fmt.Errorf("shard: from Slurm: %w", err)
		}
		return s, true, nil
	}
	if getenv("JOB_COMPLETION_INDEX") != "" {
		id, err := atoi("JOB_COMPLETION_INDEX")
		if err != nil {
			return Shard{}, false, err
		}
		if getenv(CountEnv) == "" {
			return Shard{}, false, fmt.Errorf("shard: JOB_COMPLETION_INDEX is set but %s (the number of completions) is not", CountEnv)
		}
		n, err := atoi(CountEnv)
		if err != nil {
			return Shard{}, false, err
		}
		s, err := New(id, n)
		if err != nil {
			return Shard{}, false, fmt.Errorf("shard: from Kubernetes: %w", err)
		}
		return s, true, nil
	}
	return All, false, nil
}

// Resolve picks the shard for a command: the flag value when given (it wins
// over the environment), else the environment's, else All.
func Resolve(flag string, getenv func(string) string) (Shard, error) {
	if flag != "" {
		return Parse(flag)
	}
	s, _, err := FromEnv(getenv)
	return s, err
}
