package models

import (
	"fmt"
	"math"
	"sort"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// store creates a model's parameters under dotted names and remembers them
// with their kinds. The first error sticks; later calls return nil tensors.
type store struct {
	dev    gotch.Device
	prefix string
	all    *[]Param
	err    *error
}

func newStore(dev gotch.Device) *store {
	var ps []Param
	var err error
	return &store{dev: dev, all: &ps, err: &err}
}

// sub returns a store whose names are prefixed by name + ".".
func (s *store) sub(name string) *store {
	c := *s
	c.prefix = s.name(name) + "."
	return &c
}

func (s *store) name(n string) string { return s.prefix + n }

func (s *store) fail(err error) {
	if *s.err == nil {
		*s.err = err
	}
}

// params returns the parameters sorted by name, or the first error.
func (s *store) params() ([]Param, error) {
	if *s.err != nil {
		for _, p := range *s.all {
			if p.Tensor != nil {
				_ = p.Tensor.Drop()
			}
		}
		return nil, *s.err
	}
	ps := append([]Param(nil), *s.all...)
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	for i := 1; i < len(ps); i++ {
		if ps[i].Name == ps[i-1].Name {
			return nil, fmt.Errorf("models: duplicate parameter %s", ps[i].Name)
		}
	}
	return ps, nil
}

// tensor creates a parameter of the given shape, filled by init, and
// registers it.
func (s *store) tensor(name string, kind ParamKind, shape []int64, init func(*ts.Tensor) error) *ts.Tensor {
	if *s.err != nil {
		return nil
	}
	t, err := ts.Zeros(shape, gotch.Float, s.dev)
	if err != nil {
		s.fail(fmt.Errorf("models: create %s: %w", s.name(name), err))
		return nil
	}
	if init != nil {
		if err := init(t); err != nil {
			_ = t.Drop()
			s.fail(fmt.Errorf("models: initialise %s: %w", s.name(name), err))
			return nil
		}
	}
	if kind != ParamBuffer {
		r, err := t.SetRequiresGrad(true, true)
		if err != nil {
			s.fail(fmt.Errorf("models: %s: %w", s.name(name), err))
			return nil
		}
		t = r
	}
	*s.all = append(*s.all, Param{Name: s.name(name), Kind: kind, Shape: append([]int64(nil), shape...), Tensor: t})
	return t
}

// Initialisers. They run before requires_grad is set.

func fill(v float64) func(*ts.Tensor) error {
	return func(t *ts.Tensor) (err error) {
		sc := ts.FloatScalar(v)
		defer torchx.DropTo(&err, sc)
		return torchx.InPlace(t, func() error { return t.Fill_(sc) })
	}
}

// normal fills with N(0, std²) truncated to ±2 std (timm's trunc_normal_
// resamples; clamping differs only in the 4.6% tails' placement).
func normal(std float64, truncate bool) func(*ts.Tensor) error {
	return func(t *ts.Tensor) (err error) {
		shape, err := t.Size()
		if err != nil {
			return err
		}
		r, err := ts.Randn(shape, gotch.Float, mustDevice(t))
		if err != nil {
			return err
		}
		defer torchx.DropTo(&err, r)
		sc := ts.FloatScalar(std)
		defer torchx.DropTo(&err, sc)
		if err := torchx.InPlace(r, func() error { return r.MulScalar_(sc) }); err != nil {
			return err
		}
		if !truncate {
			return torchx.Copy(t, r)
		}
		lo, hi := ts.FloatScalar(-2*std), ts.FloatScalar(2*std)
		defer torchx.DropTo(&err, lo)
		defer torchx.DropTo(&err, hi)
		c, err := r.Clamp(lo, hi, false)
		if err != nil {
			return err
		}
		defer torchx.DropTo(&err, c)
		return torchx.Copy(t, c)
	}
}

// uniform fills with U(-bound, bound).
func uniform(bound float64) func(*ts.Tensor) error {
	return func(t *ts.Tensor) (err error) {
		shape, err := t.Size()
		if err != nil {
			return err
		}
		r, err := ts.Rand(shape, gotch.Float, mustDevice(t))
		if err != nil {
			return err
		}
		defer torchx.DropTo(&err, r)
		a, b := ts.FloatScalar(2*bound), ts.FloatScalar(-bound)
		defer torchx.DropTo(&err, a)
		defer torchx.DropTo(&err, b)
		if err := torchx.InPlace(r, func() error { return r.MulScalar_(a) }); err != nil {
			return err
		}
		if err := torchx.InPlace(r, func() error { return r.AddScalar_(b) }); err != nil {
			return err
		}
		return torchx.Copy(t, r)
	}
}

func mustDevice(t *ts.Tensor) gotch.Device {
	d, err := t.Device()
	if err != nil {
		return gotch.CPU
	}
	return d
}

// conv is a 2-D convolution.
type conv struct {
	w, b                *ts.Tensor
	stride, pad, groups int64
	in, out, kernel     int64
}

// conv creates a convolution with Kaiming-normal (fan-out, ReLU) weights as
// torchvision's ResNets initialise them.
func (s *store) conv(name string, in, out, k, stride, pad int64, bias bool) *conv {
	std := math.Sqrt(2 / float64(out*k*k))
	c := &conv{stride: stride, pad: pad, groups: 1, in: in, out: out, kernel: k}
	c.w = s.tensor(name+".weight", ParamWeight, []int64{out, in, k, k}, normal(std, false))
	if bias {
		c.b = s.tensor(name+".bias", ParamBias, []int64{out}, nil)
	}
	return c
}

// convDefault creates a convolution with PyTorch's default initialisation
// (Kaiming-uniform with a = sqrt(5): U(±1/sqrt(fan_in)) for weight and bias).
func (s *store) convDefault(name string, in, out, k, stride, pad int64, bias bool) *conv {
	bound := 1 / math.Sqrt(float64(in*k*k))
	c := &conv{stride: stride, pad: pad, groups: 1, in: in, out: out, kernel: k}
	c.w = s.tensor(name+".weight", ParamWeight, []int64{out, in, k, k}, uniform(bound))
	if bias {
		c.b = s.tensor(name+".bias", ParamBias, []int64{out}, uniform(bound))
	}
	return c
}

// batchNorm is a 2-D batch norm with running statistics.
type batchNorm struct{ w, b, mean, vr *ts.Tensor }

func (s *store) bn(name string, c int64) *batchNorm {
	return &batchNorm{
		w:    s.tensor(name+".weight", ParamNormScale, []int64{c}, fill(1)),
		b:    s.tensor(name+".bias", ParamNormShift, []int64{c}, nil),
		mean: s.tensor(name+".running_mean", ParamBuffer, []int64{c}, nil),
		vr:   s.tensor(name+".running_var", ParamBuffer, []int64{c}, fill(1)),
	}
}

// linear is a fully connected layer y = x Wᵀ + b.
type linear struct {
	w, b    *ts.Tensor
	in, out int64
}

// linearTrunc creates a linear layer with timm's ViT initialisation:
// weights truncated-normal with std 0.02, zero bias.
func (s *store) linearTrunc(name string, in, out int64, bias bool) *linear {
	l := &linear{w: s.tensor(name+".weight", ParamWeight, []int64{out, in}, normal(0.02, true)), in: in, out: out}
	if bias {
		l.b = s.tensor(name+".bias", ParamBias, []int64{out}, nil)
	}
	return l
}

// linearDefault creates a linear layer with PyTorch's default
// initialisation, as torchvision's ResNet classifier has.
func (s *store) linearDefault(name string, in, out int64) *linear {
	bound := 1 / math.Sqrt(float64(in))
	return &linear{
		w:  s.tensor(name+".weight", ParamWeight, []int64{out, in}, uniform(bound)),
		b:  s.tensor(name+".bias", ParamBias, []int64{out}, uniform(bound)),
		in: in, out: out,
	}
}

// layerNorm normalises the last dimension.
type layerNorm struct {
	w, b *ts.Tensor
	dim  int64
}

func (s *store) ln(name string, d int64) *layerNorm {
	return &layerNorm{
		w:   s.tensor(name+".weight", ParamNormScale, []int64{d}, fill(1)),
		b:   s.tensor(name+".bias", ParamNormShift, []int64{d}, nil),
		dim: d,
	}
}
