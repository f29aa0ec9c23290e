package clustertest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vitprobe/vitprobe/internal/testdep"
)

// root is the repository, two levels up from this package.
var root, _ = filepath.Abs(filepath.Join("..", ".."))

// TestSlurmArraysMatchOneProcess is the cluster path end to end: a landscape
// grid and a Hessian spectrum, each as a two-task Slurm job array plus an
// afterok merge job, give the files one process gives (CSV byte for byte;
// JSON byte for byte once the provenance, which names the command line and
// the start time, is set aside).
func TestSlurmArraysMatchOneProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Slurm cluster and trains a small model: skipped with -short")
	}
	testdep.Root(t, "start munged, slurmctld and slurmd")
	for _, c := range []string{"slurmctld", "slurmd", "sbatch", "scontrol", "munged"} {
		if _, err := exec.LookPath(c); err != nil {
			if _, err := os.Stat("/usr/sbin/" + c); err != nil {
				testdep.Missing(t, "%s (make test installs Debian's slurm-wlm and munge)", c)
			}
		}
	}
	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	run(t, root, nil, "go", "build", "-o", bin+"/", "./cmd/train", "./cmd/landscape", "./cmd/hessian")

	// A small trained checkpoint: 1% of MNIST, one epoch.
	ckdir := filepath.Join(work, "run")
	run(t, root, nil, filepath.Join(bin, "train"), "--model", "resnet-mini", "--epochs", "1", "--fraction", "0.01",
		"--test-fraction", "0.02", "--threads", "1", "--out", ckdir)
	ckpt := filepath.Join(ckdir, "final.json")

	jobs := []struct {
		tool  string
		flags []string
		files []string // compared byte for byte
		jsons []string // compared without "provenance"
	}{
		{"landscape", []string{"--grid", "-1:1:3", "--images", "40", "--batch", "20", "--plots=false"},
			[]string{"landscape.csv"}, []string{"landscape.json"}},
		{"hessian", []string{"--batches", "4", "--batch-size", "8", "--k", "2", "--method", "lanczos"},
			[]string{"eigenvalues.csv"}, []string{"hessian.json"}},
	}
	// One process each, one thread (as each array task below).
	for _, j := range jobs {
		args := append([]string{"--out", filepath.Join(work, "one-"+j.tool), "--threads", "1"}, j.flags...)
		run(t, root, nil, filepath.Join(bin, j.tool), append(args, "run="+ckpt)...)
	}

	cluster := filepath.Join(work, "slurm")
	// Registered first: a start that fails half-way is stopped too.
	t.Cleanup(func() {
		if out, err := exec.Command("bash", filepath.Join(root, "scripts/slurm-local.sh"), "stop", cluster).CombinedOutput(); err != nil {
			t.Errorf("stopping the cluster: %v\n%s", err, out)
		}
	})
	run(t, root, nil, "bash", "scripts/slurm-local.sh", "start", cluster)
	env := []string{"SLURM_CONF=" + filepath.Join(cluster, "slurm.conf"), "VITPROBE_BIN=" + bin, "CPUS=1",
		"PATH=" + os.Getenv("PATH") + ":/usr/sbin"}
	ids := regexp.MustCompile(`^array (\d+) merge (\d+)$`)
	type submitted struct{ array, merge string }
	subs := make([]submitted, len(jobs))
	for i, j := range jobs {
		args := append([]string{"scripts/slurm-submit.sh", j.tool, "2", filepath.Join(work, "slurm-"+j.tool)}, j.flags...)
		out := strings.TrimSpace(run(t, root, env, "bash", append(args, "run="+ckpt)...))
		m := ids.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("slurm-submit.sh %s printed %q, want \"array ID merge ID\"", j.tool, out)
		}
		subs[i] = submitted{m[1], m[2]}
	}
	for i, j := range jobs {
		// The array's tasks have ids array_0, array_1.
		for _, id := range []string{subs[i].array + "_0", subs[i].array + "_1", subs[i].merge} {
			state := waitJob(t, env, id, 10*time.Minute)
			t.Logf("%s: job %s %s", j.tool, id, state)
			if state != "COMPLETED" {
				logs, _ := filepath.Glob(filepath.Join(work, "slurm-"+j.tool, "slurm-*.log"))
				for _, l := range logs {
					b, _ := os.ReadFile(l)
					t.Logf("%s:\n%s", l, b)
				}
				t.Fatalf("%s: job %s ended %s", j.tool, id, state)
			}
		}
		one, merged := filepath.Join(work, "one-"+j.tool), filepath.Join(work, "slurm-"+j.tool)
		for _, f := range j.files {
			a, b := hashFile(t, filepath.Join(one, f)), hashFile(t, filepath.Join(merged, f))
			t.Logf("%s %s: one process %s, Slurm %s", j.tool, f, a, b)
			if a != b {
				t.Errorf("%s: %s differs between one process and the Slurm merge", j.tool, f)
			}
		}
		for _, f := range j.jsons {
			a, b := jsonWithout(t, filepath.Join(one, f), "provenance"), jsonWithout(t, filepath.Join(merged, f), "provenance")
			if !bytes.Equal(a, b) {
				t.Errorf("%s: %s differs (provenance aside) between one process and the Slurm merge", j.tool, f)
			}
		}
	}
}

// run runs a command in dir with env added and returns its standard output;
// a failure fails t with the command's output.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

var stateRE = regexp.MustCompile(`JobState=(\S+)`)

// waitJob polls scontrol until job id has ended and returns its final state.
func waitJob(t *testing.T, env []string, id string, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		cmd := exec.Command("scontrol", "show", "job", id)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("scontrol show job %s: %v\n%s", id, err, out)
		}
		m := stateRE.FindSubmatch(out)
		if m == nil {
			t.Fatalf("scontrol show job %s: no JobState in\n%s", id, out)
		}
		switch s := string(m[1]); s {
		case "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED":
		default:
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %v", id, m[1], limit)
		}
		time.Sleep(time.Second)
	}
}

func hashFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// jsonWithout is the JSON object in path re-encoded without the given
// top-level keys.
func jsonWithout(t *testing.T, path string, keys ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Fatalf("%s has no %q", path, k)
		}
		delete(m, k)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
