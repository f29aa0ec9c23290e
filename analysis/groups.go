package analysis

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/models"
)

// ParamGroup is a named set of a model's trainable parameters: one block's
// (BlockGroups) or those whose names match a pattern (GroupByPattern). The
// curvature operators restrict to a group with HessianOptions.Params.
type ParamGroup struct {
	// Name is the block's layer name ("layer2.0", "blocks.3.attn") or the
	// name given to a pattern group.
	Name string
	// Kind is the block's kind (stem, conv, down, msa, mlp, head); for a
	// pattern group, the kind of the blocks its parameters belong to if
	// they all belong to blocks of one kind, else KindConv.
	Kind models.LayerKind
	// Index is the block's position in depth order (models.Layer.Index)
	// and Depth its normalised depth, Index over the last index. A pattern
	// group has those of its block when its parameters are all in one,
	// else -1 and 0.
	Index int
	Depth float64
	// Params are the parameters' names, in name order.
	Params []string
	// Size is the number of values of the parameters.
	Size int
}

// BlockGroups returns one ParamGroup per block of m, in depth order: the
// stem, every residual block (each MSA and MLP sub-block of a ViT block
// on its own), the head. Every trainable parameter belongs to exactly one
// group:
//   - a parameter belongs to the layer whose name is a prefix of its own
//     (models.Layer.Name, "layer2.0" for "layer2.0.conv1.weight");
//   - a ViT block's pre-norms belong to the sub-block they feed: norm1 to
//     its attn, norm2 to its mlp;
//   - the class token, the position embedding and a batch norm named bn1
//     at the top level (ResNet's stem normalisation) belong to the stem;
//     the final normalisation (norm, bn at the top level) to the head.
//
// A parameter placed by none of these rules is an error naming it (use
// GroupByPattern for such a model).
func BlockGroups(m models.Model) ([]ParamGroup, error) {
	if m == nil {
		return nil, errors.New("analysis: block groups of no model")
	}
	layers := m.Layers()
	if len(layers) == 0 {
		return nil, fmt.Errorf("analysis: model %s lists no layers", m.Spec().Name)
	}
	last := layers[len(layers)-1].Index
	byName := map[string]int{}
	groups := make([]ParamGroup, len(layers))
	stem, head := -1, -1
	for i, l := range layers {
		groups[i] = ParamGroup{Name: l.Name, Kind: l.Kind, Index: l.Index}
		if last > 0 {
			groups[i].Depth = float64(l.Index) / float64(last)
		}
		byName[l.Name] = i
		switch l.Kind {
		case models.KindStem:
			stem = i
		case models.KindHead:
			head = i
		}
	}
	var lost []string
	for _, p := range TrainableParams(m) {
		g := blockOf(p.Name, layers, byName, stem, head)
		if g < 0 {
			lost = append(lost, p.Name)
			continue
		}
		groups[g].Params = append(groups[g].Params, p.Name)
		groups[g].Size += sizeOf(p.Shape)
	}
	if len(lost) > 0 {
		return nil, fmt.Errorf("analysis: model %s: parameters in no block: %s", m.Spec().Name, strings.Join(lost, ", "))
	}
	out := groups[:0]
	for _, g := range groups {
		if len(g.Params) > 0 {
			out = append(out, g)
		}
	}
	return out, nil
}

// blockOf returns the index of the group of parameter name, -1 if none.
func blockOf(name string, layers []models.Layer, byName map[string]int, stem, head int) int {
	best, bestLen := -1, 0
	for i, l := range layers {
		if (name == l.Name || strings.HasPrefix(name, l.Name+".")) && len(l.Name) > bestLen {
			best, bestLen = i, len(l.Name)
		}
	}
	if best >= 0 {
		return best
	}
	// A pre-norm "P.norm1.x" of the sub-blocks "P.attn" and "P.mlp".
	parts := strings.Split(name, ".")
	for k := 1; k+1 < len(parts); k++ {
		prefix := strings.Join(parts[:k], ".")
		switch parts[k] {
		case "norm1":
			if g, ok := byName[prefix+".attn"]; ok {
				return g
			}
		case "norm2":
			if g, ok := byName[prefix+".mlp"]; ok {
				return g
			}
		}
	}
	switch parts[0] {
	case "cls_token", "dist_token", "pos_embed", "bn1":
		return stem
	case "norm", "bn":
		return head
	}
	return -1
}

// sizeOf returns the number of values of a shape.
func sizeOf(shape []int64) int {
	c := 1
	for _, s := range shape {
		c *= int(s)
	}
	return c
}

// GroupByPattern returns the group of m's trainable parameters whose names
// match pattern, a regular expression (Go syntax, unanchored:
// "blocks.3.attn" matches every parameter of that sub-block, "^head\."
// the head's, "norm" every layer norm), named name (the pattern if name
// is empty). No match is an error.
func GroupByPattern(m models.Model, name, pattern string) (ParamGroup, error) {
	if m == nil {
		return ParamGroup{}, errors.New("analysis: parameter group of no model")
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return ParamGroup{}, fmt.Errorf("analysis: parameter pattern: %w", err)
	}
	if name == "" {
		name = pattern
	}
	g := ParamGroup{Name: name, Index: -1, Kind: models.KindConv}
	owner := map[string]ParamGroup{}
	if blocks, err := BlockGroups(m); err == nil {
		for _, b := range blocks {
			for _, n := range b.Params {
				owner[n] = b
			}
		}
	}
	kinds := map[models.LayerKind]bool{}
	in := map[int]ParamGroup{}
	for _, p := range TrainableParams(m) {
		if !re.MatchString(p.Name) {
			continue
		}
		g.Params = append(g.Params, p.Name)
		g.Size += sizeOf(p.Shape)
		if b, ok := owner[p.Name]; ok {
			kinds[b.Kind] = true
			in[b.Index] = b
		}
	}
	if len(g.Params) == 0 {
		return ParamGroup{}, fmt.Errorf("analysis: no trainable parameter of %s matches %q", m.Spec().Name, pattern)
	}
	if len(kinds) == 1 {
		for k := range kinds {
			g.Kind = k
		}
	}
	if len(in) == 1 {
		for _, b := range in {
			g.Index, g.Depth = b.Index, b.Depth
		}
	}
	return g, nil
}

// Spans returns the places of the group's parameters in the vector of
// every trainable parameter of m (TrainableParams order), adjacent
// parameters merged: the coordinates hessian.Restrict keeps, and where
// hessian.Embed puts a group's vector in the full space.
func (g ParamGroup) Spans(m models.Model) ([]hessian.Span, error) {
	want := map[string]bool{}
	for _, n := range g.Params {
		want[n] = true
	}
	var spans []hessian.Span
	off, found := 0, 0
	for _, p := range TrainableParams(m) {
		c := sizeOf(p.Shape)
		if want[p.Name] {
			found++
			if k := len(spans); k > 0 && spans[k-1].End == off {
				spans[k-1].End += c
			} else {
				spans = append(spans, hessian.Span{Start: off, End: off + c})
			}
		}
		off += c
	}
	if found != len(want) {
		return nil, fmt.Errorf("analysis: group %s: %d of its %d parameters are not trainable parameters of %s", g.Name, len(want)-found, len(want), m.Spec().Name)
	}
	return spans, nil
}

// operatorParams returns the trainable parameters of m named in names, in
// TrainableParams order, or all of them for nil names. An unknown or
// repeated name, or an empty selection, is an error.
func operatorParams(m models.Model, names []string) ([]models.Param, error) {
	all := TrainableParams(m)
	if len(all) == 0 {
		return nil, fmt.Errorf("model %s has no trainable parameters", m.Spec().Name)
	}
	if names == nil {
		return all, nil
	}
	if len(names) == 0 {
		return nil, errors.New("an empty parameter group")
	}
	want := map[string]bool{}
	for _, n := range names {
		if want[n] {
			return nil, fmt.Errorf("parameter %s named twice", n)
		}
		want[n] = true
	}
	var out []models.Param
	for _, p := range all {
		if want[p.Name] {
			out = append(out, p)
			delete(want, p.Name)
		}
	}
	if len(want) > 0 {
		var missing []string
		for n := range want {
			missing = append(missing, n)
		}
		slices.Sort(missing)
		return nil, fmt.Errorf("no trainable parameter %s in model %s", strings.Join(missing, ", "), m.Spec().Name)
	}
	return out, nil
}

// SelectGroups returns the groups whose names match pattern, a regular
// expression (Go syntax, unanchored: "attn" keeps every MSA sub-block of a
// ViT, "^layer4" a ResNet's last stage), in their order. A pattern that
// matches no group is an error listing the groups there are.
func SelectGroups(groups []ParamGroup, pattern string) ([]ParamGroup, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("analysis: block pattern: %w", err)
	}
	var out []ParamGroup
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.Name
		if re.MatchString(g.Name) {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("analysis: no block matches %q (blocks: %s)", pattern, strings.Join(names, ", "))
	}
	return out, nil
}
