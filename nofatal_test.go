package vitprobe_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// fatalCalls are gotch methods that call log.Fatal when libtorch reports an
// error: in a library they end the caller's process. torchx has
// error-returning replacements (Copy, Kind, DropTo).
var fatalCalls = map[string]bool{"Copy_": true, "DType": true}

// TestNoProcessExitingCalls: no non-test Go file of the project calls a
// gotch Must* method, Tensor.Copy_ or Tensor.DType (before issue 14, train,
// models and analysis did: a failed drop or copy ended the program).
func TestNoProcessExitingCalls(t *testing.T) {
	fset := token.NewFileSet()
	eachSourceFile(t, fset, func(f *ast.File) {
		ast.Inspect(f, func(n ast.Node) bool {
			call, sel := methodCall(n)
			if call == nil {
				return true
			}
			name := sel.Sel.Name
			if x, ok := sel.X.(*ast.Ident); ok && (x.Name == "regexp" || x.Name == "template") {
				return true // MustCompile, Must: programming errors, at start-up
			}
			if strings.HasPrefix(name, "Must") || fatalCalls[name] {
				t.Errorf("%s: %s exits the process on a libtorch error; use the error-returning variant", fset.Position(call.Pos()), name)
			}
			return true
		})
	})
}

// TestInPlaceCallsWrapped reads every non-test Go file outside third_party
// and reports calls of gotch's in-place tensor methods (Relu_, Fill_,
// MulScalar_, ...: an exported method name ending in "_") made outside
// torchx.InPlace: gotch points the tensor at a new C handle and loses the
// old one, so the tensor's storage is never freed.
func TestInPlaceCallsWrapped(t *testing.T) {
	fset := token.NewFileSet()
	eachSourceFile(t, fset, func(f *ast.File) {
		// The spans of InPlace's arguments, where the calls belong.
		var allowed [][2]token.Pos
		ast.Inspect(f, func(n ast.Node) bool {
			if call, sel := methodCall(n); call != nil && sel.Sel.Name == "InPlace" && len(call.Args) == 2 {
				allowed = append(allowed, [2]token.Pos{call.Args[1].Pos(), call.Args[1].End()})
			}
			return true
		})
		ast.Inspect(f, func(n ast.Node) bool {
			call, sel := methodCall(n)
			if call == nil {
				return true
			}
			name := sel.Sel.Name
			if !strings.HasSuffix(name, "_") || !ast.IsExported(name) || fatalCalls[name] {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "lib" {
				return true // libtch's C functions take the handle, they do not replace it
			}
			for _, a := range allowed {
				if call.Pos() >= a[0] && call.End() <= a[1] {
					return true
				}
			}
			t.Errorf("%s: %s replaces the tensor's C handle and loses the old one; call it through torchx.InPlace", fset.Position(call.Pos()), name)
			return true
		})
	})
}

// methodCall returns n as a call of a selector (x.Name(...)), or nils.
func methodCall(n ast.Node) (*ast.CallExpr, *ast.SelectorExpr) {
	call, ok := n.(*ast.CallExpr)
	if !ok {
		return nil, nil
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return nil, nil
	}
	return call, sel
}

// eachSourceFile parses every non-test Go file of the project outside
// third_party and hidden folders, and calls fn with each.
func eachSourceFile(t *testing.T, fset *token.FileSet, fn func(*ast.File)) {
	t.Helper()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (path == "third_party" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		fn(f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
