package experiments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/reports"
)

// Part is a finished experiment as the report reads it.
type Part interface {
	// Name is the experiment's folder under the lab (and its anchor).
	Name() string
	// Findings are its claims with their verdicts.
	Findings() []findings.Finding
	// Section draws its figures into dir/Name() and returns the report's
	// section, with image paths relative to dir.
	Section(dir string) (reports.Section, error)
}

// group trains and measures the runs of one setting.
func (l *Lab) group(ctx context.Context, label string, specs []RunSpec) (Group, error) {
	g := Group{Label: label}
	for _, s := range specs {
		r, err := l.Train(ctx, s)
		if err != nil {
			return g, err
		}
		m, err := l.Measure(ctx, r)
		if err != nil {
			return g, fmt.Errorf("experiments: %s: %w", s.Label(), err)
		}
		g.Runs = append(g.Runs, m)
	}
	return g, nil
}

// seeds returns the specs of s with seeds 0..n-1.
func seeds(s RunSpec, n int) []RunSpec {
	out := make([]RunSpec, n)
	for i := range out {
		out[i] = s
		out[i].Seed = uint64(i)
	}
	return out
}

// saveResult writes a part's result as JSON into dir/name/result.json.
func saveResult(dir, name string, v any) error {
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		return fmt.Errorf("experiments: %w", err)
	}
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("experiments: %s: %w", name, err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, name, "result.json"), append(js, '\n'))
}

// figure draws one figure of a part with draw into dir/name/file and
// returns its block; a figure that cannot be drawn is a text block saying
// why (a report is still worth having without it).
func figure(dir, name, file, caption string, draw func(path string) error) reports.Block {
	if err := draw(filepath.Join(dir, name, file)); err != nil {
		return reports.Block{Text: fmt.Sprintf("(figure %s not drawn: %v)", file, err)}
	}
	return reports.Block{Image: &reports.Image{Src: name + "/" + file, Alt: caption, Caption: caption}}
}

// findingsTable tabulates findings.
func findingsTable(fs []findings.Finding) *reports.Table {
	t := &reports.Table{Header: []string{"claim", "measured", "criterion", "verdict"}}
	for _, f := range fs {
		measured := ""
		for i, m := range f.Measured {
			if i > 0 {
				measured += "; "
			}
			measured += m
		}
		t.Rows = append(t.Rows, []string{f.Claim, measured, f.Criterion, fmt.Sprintf("%s: %s", f.Verdict, f.Why)})
	}
	return t
}

// LoadPart reads the saved result of experiment name (one of Names) from
// the lab folder dir; os.ErrNotExist when it has not run there.
func LoadPart(dir, name string) (Part, error) {
	var p Part
	switch name {
	case "datasize":
		p = &DataSizeResult{}
	case "smoothing":
		p = &SmoothingResult{}
	case "locality":
		p = &LocalityResult{}
	case "trajectories":
		p = &TrajectoryResult{}
	case "finetune":
		p = &FineTuneResult{}
	case "buildup":
		p = &BuildUpResult{}
	default:
		return nil, &UnknownError{Name: name}
	}
	b, err := os.ReadFile(filepath.Join(dir, name, "result.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("experiments: %s: %w", filepath.Join(dir, name, "result.json"), err)
	}
	return p, nil
}

// WithSaved returns parts completed, in Names' order, by the saved results
// of the experiments of dir that are not among them: a report of one
// experiment still shows the others that ran there before.
func WithSaved(dir string, parts []Part) ([]Part, error) {
	have := map[string]Part{}
	for _, p := range parts {
		have[p.Name()] = p
	}
	var out []Part
	for _, n := range Names {
		if p, ok := have[n]; ok {
			out = append(out, p)
			continue
		}
		p, err := LoadPart(dir, n)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// saveFigure saves the figure a reports function returns (or returns its
// error) at path.
func saveFigure(path string) func(*reports.Figure, error) error {
	return func(f *reports.Figure, err error) error {
		if err != nil {
			return err
		}
		return f.Save(path)
	}
}
