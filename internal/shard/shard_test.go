package shard

import "testing"

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Shard
		ok   bool
	}{
		{"0/1", Shard{0, 1}, true},
		{"3/4", Shard{3, 4}, true},
		{" 1 / 2 ", Shard{1, 2}, true},
		{"4/4", Shard{}, false},
		{"-1/4", Shard{}, false},
		{"0/0", Shard{}, false},
		{"1", Shard{}, false},
		{"a/b", Shard{}, false},
	} {
		got, err := Parse(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Parse(%q) = %v, %v; want %v, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestOwnsPartitions(t *testing.T) {
	const n, items = 4, 441
	seen := make([]int, items)
	for i := 0; i < n; i++ {
		s := Shard{i, n}
		for j := 0; j < items; j++ {
			if s.Owns(j) {
				seen[j]++
			}
		}
	}
	for j, c := range seen {
		if c != 1 {
			t.Fatalf("item %d owned by %d shards", j, c)
		}
	}
}

func TestFromEnv(t *testing.T) {
	s, ok, err := FromEnv(env(map[string]string{"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_COUNT": "3"}))
	if err != nil || !ok || s != (Shard{1, 3}) {
		t.Errorf("slurm: %v %v %v", s, ok, err)
	}
	s, ok, err = FromEnv(env(map[string]string{"JOB_COMPLETION_INDEX": "2", CountEnv: "4"}))
	if err != nil || !ok || s != (Shard{2, 4}) {
		t.Errorf("k8s: %v %v %v", s, ok, err)
	}
	if _, _, err = FromEnv(env(map[string]string{"JOB_COMPLETION_INDEX": "2"})); err == nil {
		t.Error("k8s without a count: want an error")
	}
	if _, _, err = FromEnv(env(map[string]string{"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_COUNT": "3"})); err == nil {
		t.Error("slurm index out of range: want an error")
	}
	s, ok, err = FromEnv(env(nil))
	if err != nil || ok || s != All {
		t.Errorf("empty env: %v %v %v", s, ok, err)
	}
	s, err = Resolve("1/2", env(map[string]string{"JOB_COMPLETION_INDEX": "0", CountEnv: "4"}))
	if err != nil || s != (Shard{1, 2}) {
		t.Errorf("flag should win: %v %v", s, err)
	}
}
