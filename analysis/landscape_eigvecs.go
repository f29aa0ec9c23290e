package analysis

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/landscape"
	"github.com/vitprobe/vitprobe/safetensors"
)

// LandscapeEigvecsFormat is the "format" metadata value of an eigenvector
// file.
const LandscapeEigvecsFormat = "vitprobe-eigvecs"

// LandscapeEigvecs are directions given as flat vectors over a model's
// trainable parameters, typically the top eigenvectors of its Hessian, to
// draw the landscape along them (cmd/landscape --eigvecs).
//
// # File format
//
// A safetensors file (any writer will do; reference/pytorch/safet.py is
// one) holding one 1-D tensor per vector, named "eigvec.0", "eigvec.1",
// ... in order (eigvec.0 is the x direction, eigvec.1 the y direction;
// for eigenvectors, by decreasing eigenvalue), F32 or F64. Each vector
// has one value per trainable parameter value of the model: the
// concatenation, over the trainable tensors sorted by name (batch-norm
// running statistics left out), of each tensor's values in row-major
// order. That is the order of models.Model.Params without its buffers, of
// landscape.FromVector, and of the Hessian vectors of this package
// (TrainableParams). The optional string metadata are:
//
//	"format":         "vitprobe-eigvecs"
//	"model":          the preset name, e.g. "resnet-mini"
//	"weights_sha256": the checkpoint's WeightsSHA256 where the Hessian was taken
//	"eigenvalue.K":   the eigenvalue of eigvec.K, as a decimal number
//
// From PyTorch, with params the model's named_parameters() sorted by name:
//
//	v = torch.cat([p.reshape(-1) for _, p in sorted(params)])
//	safet.save("top2.safetensors", {"eigvec.0": v0, "eigvec.1": v1},
//	           {"format": "vitprobe-eigvecs", "eigenvalue.0": "412.5"})
type LandscapeEigvecs struct {
	// Vectors are the flat vectors, eigvec.0 first.
	Vectors [][]float64
	// Values are their eigenvalues, NaN where the file gives none.
	Values []float64
	// Model and WeightsSHA256 say where the vectors were computed ("" when
	// unknown).
	Model, WeightsSHA256 string
}

// SaveLandscapeEigvecs writes e to path atomically as F64 tensors.
func SaveLandscapeEigvecs(path string, e *LandscapeEigvecs) error {
	if len(e.Vectors) == 0 {
		return fmt.Errorf("analysis: eigenvectors: nothing to write to %s", path)
	}
	meta := map[string]string{"format": LandscapeEigvecsFormat}
	if e.Model != "" {
		meta["model"] = e.Model
	}
	if e.WeightsSHA256 != "" {
		meta["weights_sha256"] = e.WeightsSHA256
	}
	tensors := make([]safetensors.Tensor, len(e.Vectors))
	for k, v := range e.Vectors {
		b := make([]byte, 8*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
		}
		tensors[k] = safetensors.Tensor{Name: "eigvec." + strconv.Itoa(k), DType: safetensors.F64, Shape: []int64{int64(len(v))}, Data: b}
		if k < len(e.Values) && !math.IsNaN(e.Values[k]) {
			meta["eigenvalue."+strconv.Itoa(k)] = strconv.FormatFloat(e.Values[k], 'g', -1, 64)
		}
	}
	var buf bytes.Buffer
	if _, err := safetensors.Encode(&buf, tensors, meta); err != nil {
		return fmt.Errorf("analysis: eigenvectors: %w", err)
	}
	if err := atomicfile.WriteFile(path, buf.Bytes()); err != nil {
		return fmt.Errorf("analysis: eigenvectors: %w", err)
	}
	return nil
}

// LoadLandscapeEigvecs reads an eigenvector file (see LandscapeEigvecs):
// the tensors eigvec.0, eigvec.1, ... up to the first missing number, each
// 1-D F32 or F64 of one common length with finite values. Any other tensor
// is an error, so that a checkpoint given by mistake is refused.
func LoadLandscapeEigvecs(path string) (*LandscapeEigvecs, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("analysis: eigenvectors: %w", err)
	}
	e := &LandscapeEigvecs{Model: f.Metadata["model"], WeightsSHA256: f.Metadata["weights_sha256"]}
	for k := 0; ; k++ {
		t, ok := f.Lookup("eigvec." + strconv.Itoa(k))
		if !ok {
			break
		}
		if len(t.Shape) != 1 {
			return nil, fmt.Errorf("analysis: eigenvectors: %s: %s has shape %v, want a flat vector", path, t.Name, t.Shape)
		}
		var v []float64
		switch t.DType {
		case safetensors.F64:
			v = make([]float64, len(t.Data)/8)
			for i := range v {
				v[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
			}
		case safetensors.F32:
			v = make([]float64, len(t.Data)/4)
			for i := range v {
				v[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:])))
			}
		default:
			return nil, fmt.Errorf("analysis: eigenvectors: %s: %s is %s, want F32 or F64", path, t.Name, t.DType)
		}
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("analysis: eigenvectors: %s: %s has a non-finite value at %d", path, t.Name, i)
			}
		}
		if k > 0 && len(v) != len(e.Vectors[0]) {
			return nil, fmt.Errorf("analysis: eigenvectors: %s: %s has %d values, eigvec.0 %d", path, t.Name, len(v), len(e.Vectors[0]))
		}
		val := math.NaN()
		if s, ok := f.Metadata["eigenvalue."+strconv.Itoa(k)]; ok {
			if val, err = strconv.ParseFloat(s, 64); err != nil {
				return nil, fmt.Errorf("analysis: eigenvectors: %s: eigenvalue.%d = %q is not a number", path, k, s)
			}
		}
		e.Vectors = append(e.Vectors, v)
		e.Values = append(e.Values, val)
	}
	if len(e.Vectors) != len(f.Tensors) {
		var other []string
		for _, t := range f.Tensors {
			if !strings.HasPrefix(t.Name, "eigvec.") {
				other = append(other, t.Name)
			}
		}
		if len(other) > 0 {
			if len(other) > 3 {
				other = append(other[:3], "...")
			}
			return nil, fmt.Errorf("analysis: eigenvectors: %s holds tensors other than eigvec.0, eigvec.1, ... (%s): not an eigenvector file", path, strings.Join(other, ", "))
		}
		return nil, fmt.Errorf("analysis: eigenvectors: %s: the eigvec.K tensors are not numbered 0, 1, 2, ... without gaps", path)
	}
	if len(e.Vectors) == 0 {
		return nil, fmt.Errorf("analysis: eigenvectors: %s holds no tensor eigvec.0", path)
	}
	return e, nil
}

// Directions turns the first n vectors into directions for params (see
// landscape.FromVector): n must not exceed the vectors held, and their
// length must be the number of trainable values of params. Zero marks and
// normalisation are not applied: call Direction.Mask or
// landscape.Normalize as wanted.
func (e *LandscapeEigvecs) Directions(params []landscape.Param, n int) ([]landscape.Direction, error) {
	if n > len(e.Vectors) {
		return nil, fmt.Errorf("analysis: eigenvectors: %d wanted, the file holds %d", n, len(e.Vectors))
	}
	out := make([]landscape.Direction, n)
	for k := range n {
		d, err := landscape.FromVector(params, e.Vectors[k])
		if err != nil {
			return nil, fmt.Errorf("analysis: eigenvectors: eigvec.%d: %w", k, err)
		}
		out[k] = d
	}
	return out, nil
}
