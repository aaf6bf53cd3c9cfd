//go:build cgo && !windows

// launch_test.go: without a GPU, every kernel launch in this package is
// checked against the kernel's parameter list in the embedded PTX: the
// kernel exists and is loaded (kernels.Names), the argument count matches,
// and each argument's kind does (cu.P, cu.L and cu.Null for 64-bit
// parameters: pointers and long long; cu.I for int and smaller integers;
// cu.F for float). A launch with an argument missing, added or of the wrong
// kind would otherwise pass every CPU test and fail, or silently compute
// garbage, on the GPU alone.

package cuda

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cnngpu/cnngpu/kernels"
)

// ptxParams maps each kernel of the PTX to its parameter kinds: "64"
// (.u64, .s64, .b64), "int" (32 bits or fewer), "f32".
func ptxParams(t *testing.T) map[string][]string {
	entry := regexp.MustCompile(`\.visible \.entry (\w+)\(([^)]*)\)`)
	param := regexp.MustCompile(`\.param \.(\w+) `)
	out := map[string][]string{}
	for _, m := range entry.FindAllStringSubmatch(kernels.PTX, -1) {
		var kinds []string
		for _, p := range param.FindAllStringSubmatch(m[2], -1) {
			switch p[1] {
			case "u64", "s64", "b64":
				kinds = append(kinds, "64")
			case "u32", "s32", "b32", "u16", "s16", "b16", "u8", "s8", "b8":
				kinds = append(kinds, "int")
			case "f32":
				kinds = append(kinds, "f32")
			default:
				t.Fatalf("kernel %s: parameter type .%s not handled by this test", m[1], p[1])
			}
		}
		out[m[1]] = kinds
	}
	if len(out) == 0 {
		t.Fatal("no kernel entries found in kernels.PTX")
	}
	return out
}

// argKind is the kind of a cu.P/Buf/L/Null/I/F call or of the engine's
// arg/bufArg (pointers with their extents), or "" for anything else.
func argKind(e ast.Expr) string {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return ""
	}
	if id, ok := call.Fun.(*ast.Ident); ok && (id.Name == "arg" || id.Name == "bufArg") {
		return "64"
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "cu" {
		return ""
	}
	switch sel.Sel.Name {
	case "P", "Buf", "L", "Null":
		return "64"
	case "I":
		return "int"
	case "F":
		return "f32"
	}
	return ""
}

// assigned returns every expression assigned to the variable name in fn
// (:=, =, var), in source order.
func assigned(fn *ast.FuncDecl, name string) []ast.Expr {
	var out []ast.Expr
	ast.Inspect(fn, func(n ast.Node) bool {
		switch s := n.(type) {
		case *ast.AssignStmt:
			if len(s.Lhs) == len(s.Rhs) {
				for i, l := range s.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name == name {
						out = append(out, s.Rhs[i])
					}
				}
			}
		case *ast.ValueSpec:
			for i, id := range s.Names {
				if id.Name == name && i < len(s.Values) {
					out = append(out, s.Values[i])
				}
			}
		}
		return true
	})
	return out
}

// resolve gives the kinds (or string values, for kernel names) an argument
// can have: itself, or what is assigned to it when it is a variable.
func resolve(fn *ast.FuncDecl, e ast.Expr, value func(ast.Expr) string) []string {
	if id, ok := e.(*ast.Ident); ok {
		var out []string
		for _, a := range assigned(fn, id.Name) {
			out = append(out, value(a))
		}
		if len(out) == 0 {
			return []string{""}
		}
		return out
	}
	return []string{value(e)}
}

// isParam reports whether name is one of fn's parameters.
func isParam(fn *ast.FuncDecl, name string) bool {
	for _, f := range fn.Type.Params.List {
		for _, id := range f.Names {
			if id.Name == name {
				return true
			}
		}
	}
	return false
}

func stringLit(e ast.Expr) string {
	if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
		s, _ := strconv.Unquote(b.Value)
		return s
	}
	return ""
}

func TestLaunchesMatchKernelParameters(t *testing.T) {
	if _, err := os.Stat("ops.go"); err != nil {
		t.Skip("the engine's source files are not in the working directory (a test binary run elsewhere, as on the device machine); go test runs this check")
	}
	params := ptxParams(t)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	launches := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || (sel.Sel.Name != "Launch" && sel.Sel.Name != "LaunchBlocks" && sel.Sel.Name != "LaunchOn") || len(call.Args) < 3 {
					return true
				}
				first := 0 // the kernel name's position
				if sel.Sel.Name == "LaunchOn" {
					first = 1
				}
				if id, ok := call.Args[first].(*ast.Ident); ok && isParam(fn, id.Name) {
					return true // a device's launch passing its caller's on
				}
				launches++
				pos := fset.Position(call.Pos())
				args := call.Args[first+3:]
				for _, name := range resolve(fn, call.Args[first], stringLit) {
					want, ok := params[name]
					if name == "" || !ok {
						t.Errorf("%s: launch of %q: no such kernel in kernels.PTX (the name must be a string literal or a variable assigned literals)", pos, name)
						continue
					}
					if !slices.Contains(kernels.Names, name) {
						t.Errorf("%s: kernel %s is launched but not in kernels.Names, so it is not loaded", pos, name)
					}
					if len(args) != len(want) {
						t.Errorf("%s: %s takes %d parameters, the launch passes %d", pos, name, len(want), len(args))
						continue
					}
					for i, a := range args {
						for _, k := range resolve(fn, a, argKind) {
							if k != want[i] {
								t.Errorf("%s: %s parameter %d is %s, the launch passes %q (%s)", pos, name, i, want[i], k, fset.Position(a.Pos()))
							}
						}
					}
				}
				return true
			})
		}
	}
	if launches < 20 {
		t.Errorf("found %d launches in the engine's files; the test's parser is not finding them", launches)
	}
}
