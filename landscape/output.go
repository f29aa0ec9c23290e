package landscape

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/prov"
)

// CSVHeader is the first line of the CSV output. The first six columns
// carry the official code's names (its CSV has no header line; its
// notebook names the columns x, y, l1, l2, NLL, Cutoff1, Cutoff2, Acc, ...
// and vitprobe leaves out the calibration columns); loss = NLL +
// (wd/2)·sqnorm (the project's regularised loss, Result.Loss) and the
// point's index follow, then sqnorm = Σ‖w_t‖² and loss_official = NLL +
// wd·l2 (the official code's plotted loss). Rows are in index order, x
// varying fastest.
const CSVHeader = "x,y,l1,l2,NLL,Acc,loss,index,sqnorm,loss_official"

// WriteCSV writes the points as CSV (see CSVHeader). The bytes depend only
// on the points, so a run in one process, a resumed run and a merge of
// shards give identical files.
func (r *Result) WriteCSV(w io.Writer) error {
	b := make([]byte, 0, 64*(len(r.Points)+1))
	b = append(b, CSVHeader+"\n"...)
	for _, p := range r.Points {
		for k, v := range [...]float64{p.X, p.Y, p.L1, p.L2, p.NLL, p.Acc, r.Loss(p)} {
			if k > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		}
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(p.Index), 10)
		for _, v := range [...]float64{p.SqNorm, r.LossOfficial(p)} {
			b = append(b, ',')
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		}
		b = append(b, '\n')
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("landscape: write CSV: %w", err)
	}
	return nil
}

// SaveCSV writes the CSV to path atomically.
func (r *Result) SaveCSV(path string) error {
	var b bytes.Buffer
	if err := r.WriteCSV(&b); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, b.Bytes()); err != nil {
		return fmt.Errorf("landscape: %w", err)
	}
	return nil
}

// jsonPoint is one point in the JSON output.
type jsonPoint struct {
	Index int    `json:"index"`
	X     jfloat `json:"x"`
	Y     jfloat `json:"y"`
	L1    jfloat `json:"l1"`
	L2    jfloat `json:"l2"`
	NLL   jfloat `json:"NLL"`
	Acc   jfloat `json:"Acc"`
	Loss  jfloat `json:"loss"`
	// SqNorm is Σ‖w_t‖² (absent from files written before it existed:
	// read as NaN); LossOfficial NLL + wd·l2.
	SqNorm       *jfloat `json:"sqnorm"`
	LossOfficial jfloat  `json:"loss_official"`
}

// summary gives the headline numbers of a result.
type summary struct {
	// Points is the number of grid points with a result, Diverged the
	// number of those with a non-finite metric.
	Points   int `json:"points"`
	Diverged int `json:"diverged"`
	// Centre is the point nearest (0, 0), the origin weights when they are
	// a grid point; MinLoss the point of least finite loss. Both are nil
	// when there is no such point.
	Centre  *jsonPoint `json:"centre,omitempty"`
	MinLoss *jsonPoint `json:"min_loss,omitempty"`
}

// document is the JSON output.
type document struct {
	Provenance prov.Provenance `json:"provenance"`
	Spec       Spec            `json:"spec"`
	Columns    string          `json:"csv_columns"`
	Summary    summary         `json:"summary"`
	Points     []jsonPoint     `json:"points"`
}

func (r *Result) jsonPoint(p Point) *jsonPoint {
	sq := jfloat(p.SqNorm)
	return &jsonPoint{Index: p.Index, X: jfloat(p.X), Y: jfloat(p.Y), L1: jfloat(p.L1), L2: jfloat(p.L2),
		NLL: jfloat(p.NLL), Acc: jfloat(p.Acc), Loss: jfloat(r.Loss(p)), SqNorm: &sq, LossOfficial: jfloat(r.LossOfficial(p))}
}

// summarize computes the headline numbers.
func (r *Result) summarize() summary {
	s := summary{Points: len(r.Points), Diverged: r.Diverged()}
	best, near := -1, -1
	for k, p := range r.Points {
		if l := r.Loss(p); !math.IsNaN(l) && !math.IsInf(l, 0) && (best < 0 || l < r.Loss(r.Points[best])) {
			best = k
		}
		if near < 0 || math.Hypot(p.X, p.Y) < math.Hypot(r.Points[near].X, r.Points[near].Y) {
			near = k
		}
	}
	if best >= 0 {
		s.MinLoss = r.jsonPoint(r.Points[best])
	}
	if near >= 0 {
		s.Centre = r.jsonPoint(r.Points[near])
	}
	return s
}

// WriteJSON writes the spec, a summary, every point and the provenance as
// indented JSON. Non-finite values are the strings "NaN", "+Inf", "-Inf".
func (r *Result) WriteJSON(w io.Writer, pv prov.Provenance) error {
	doc := document{Provenance: pv, Spec: r.Spec, Columns: CSVHeader, Summary: r.summarize(),
		Points: make([]jsonPoint, len(r.Points))}
	for k, p := range r.Points {
		doc.Points[k] = *r.jsonPoint(p)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("landscape: JSON: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("landscape: write JSON: %w", err)
	}
	return nil
}

// SaveJSON writes the JSON to path atomically.
func (r *Result) SaveJSON(path string, pv prov.Provenance) error {
	var b bytes.Buffer
	if err := r.WriteJSON(&b, pv); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, b.Bytes()); err != nil {
		return fmt.Errorf("landscape: %w", err)
	}
	return nil
}

// ReadJSON reads a result written by WriteJSON, checking that its points
// lie on its grid.
func ReadJSON(rd io.Reader) (*Result, prov.Provenance, error) {
	var doc document
	dec := json.NewDecoder(rd)
	if err := dec.Decode(&doc); err != nil {
		return nil, prov.Provenance{}, fmt.Errorf("landscape: read JSON: %w", err)
	}
	if err := doc.Spec.Validate(); err != nil {
		return nil, prov.Provenance{}, err
	}
	done := make(map[int]Point, len(doc.Points))
	recs := make([]record, len(doc.Points))
	for k, p := range doc.Points {
		sq := jfloat(math.NaN())
		if p.SqNorm != nil {
			sq = *p.SqNorm
		}
		recs[k] = record{I: p.Index, X: p.X, Y: p.Y, NLL: p.NLL, Acc: p.Acc, L1: p.L1, L2: p.L2, SQ: sq}
	}
	if err := addRecords(done, recs, doc.Spec.Grid, "JSON result"); err != nil {
		return nil, prov.Provenance{}, err
	}
	return &Result{Spec: doc.Spec, Points: sorted(done)}, doc.Provenance, nil
}

// LoadJSON reads the result file at path (see ReadJSON).
func LoadJSON(path string) (*Result, prov.Provenance, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, prov.Provenance{}, fmt.Errorf("landscape: %w", err)
	}
	defer f.Close()
	r, pv, err := ReadJSON(f)
	if err != nil {
		return nil, pv, fmt.Errorf("%w (in %s)", err, path)
	}
	return r, pv, nil
}
