package jobs

import (
	"fmt"
	"slices"

	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/internal/journal"
	"github.com/vitprobe/vitprobe/internal/prov"
)

// journaledJob describes a job whose runs are journals of records under
// a header (its settings): what finishing a run and merging the journals
// of a sharded run need to know of it.
type journaledJob struct {
	tool   string // in the provenance: "hessian"
	what   string // in messages: "the Hessian job"
	header string // the settings' Tool: "vitprobe hessian"
	format int    // the settings' Format this version writes
	names  journal.Names
}

// inputFiles is a checkpoint input of a journaled job: the files its
// outputs name in their provenance.
type inputFiles interface{ files() []string }

// finishRun reads the records of the finished journal at path (written
// under hdr) and starts the provenance of the run's outputs, naming every
// input file.
func finishRun[R any, I inputFiles](e *Env, job journaledJob, path string, hdr any, seed uint64, inputs []I) ([]R, prov.Provenance, error) {
	recs, err := journal.Read[R](path, hdr)
	if err != nil {
		return nil, prov.Provenance{}, err
	}
	p := e.provenance(job.tool, seed)
	for _, in := range inputs {
		for _, f := range in.files() {
			if err := p.AddInput(f); err != nil {
				return nil, prov.Provenance{}, err
			}
		}
	}
	return recs, p, nil
}

// mergeShards reads the journals of a sharded run for merging: the shards
// in dir, or the journals given, in name order. It decodes the first
// one's header into hdr (a pointer to the job's settings), checks with id
// (which reads the decoded Tool, Format and Seed) that it is job's and of
// this version, and returns every record with a provenance that names the
// journals. It prepares dir for the merged outputs.
func mergeShards[R any](e *Env, job journaledJob, dir string, journals []string, hdr any,
	id func() (tool string, format int, seed uint64)) ([]R, prov.Provenance, error) {
	paths := journals
	if len(paths) == 0 {
		var err error
		if paths, err = job.names.Shards(dir); err != nil {
			return nil, prov.Provenance{}, fmt.Errorf("merge: %w (copy the shards' journals there, or name them)", err)
		}
	}
	paths = slices.Clone(paths)
	slices.Sort(paths)
	err := journal.ReadHeader(paths[0], hdr)
	tool, format, seed := id()
	if err != nil || tool != job.header {
		return nil, prov.Provenance{}, errs.Optionf("merge: %s is not a journal of %s", paths[0], job.what)
	}
	if format != job.format {
		return nil, prov.Provenance{}, fmt.Errorf("merge: %s: journal format %d, this version writes %d", paths[0], format, job.format)
	}
	var recs []R
	p := e.provenance(job.tool, seed)
	p.Threads = 0
	for _, path := range paths {
		r, err := journal.Read[R](path, hdr)
		if err != nil {
			return nil, prov.Provenance{}, fmt.Errorf("merge: %w", err)
		}
		recs = append(recs, r...)
		if err := p.AddInput(path); err != nil {
			return nil, prov.Provenance{}, err
		}
	}
	if err := prepareOut(dir); err != nil {
		return nil, prov.Provenance{}, err
	}
	return recs, p, nil
}
