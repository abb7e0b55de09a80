package rules

import (
	"math"

	"github.com/expr-lang/expr/ast"
)

// code is a rule expression as the rules package evaluates it on the hot
// path: the checked, optimized expr tree flattened into nodes and evaluated
// over the feature values without allocating (expr's VM boxes every
// intermediate value and every call argument). It mirrors the VM's semantics
// for the values the rule language has (int, float64, bool): int arithmetic
// stays int, / and ** are float, mixed comparisons compare as float64, &&,
// || and ?: short-circuit. Whatever it does not mirror (a run-time error such
// as an integer modulo by zero, an operand of an unexpected type) makes eval
// report false, and the caller runs the VM, which then decides exactly as
// before. TestCodeMatchesVM and FuzzCodeMatchesVM check the two agree.
type code struct {
	nodes []codeNode
	root  int32
}

type valueKind uint8

const (
	kindInt valueKind = iota + 1
	kindFloat
	kindBool
)

// codeValue is an int (i), a float64 (f) or a bool (i != 0).
type codeValue struct {
	kind valueKind
	i    int
	f    float64
}

func (v codeValue) float() float64 {
	if v.kind == kindInt {
		return float64(v.i)
	}
	return v.f
}

func (v codeValue) number() bool { return v.kind == kindInt || v.kind == kindFloat }

type codeOp uint8

const (
	codeConst   codeOp = iota + 1
	codeFeature        // a = feature index
	codeAbs
	codeNot
	codeNeg
	codeAnd
	codeOr
	codeCond // a ? b : c
	codeAdd
	codeSub
	codeMul
	codeDiv
	codeMod
	codePow
	codeEq
	codeNe
	codeLt
	codeGt
	codeLe
	codeGe
)

type codeNode struct {
	op      codeOp
	a, b, c int32
	v       codeValue
}

// compileCode flattens a checked, optimized tree; nil when the tree holds a
// node the rule language does not produce (the VM then runs alone).
func compileCode(n ast.Node) *code {
	c := &code{}
	root, ok := c.add(n)
	if !ok {
		return nil
	}
	c.root = root
	return c
}

func (c *code) node(cn codeNode) (int32, bool) {
	c.nodes = append(c.nodes, cn)
	return int32(len(c.nodes) - 1), true
}

func (c *code) add(n ast.Node) (int32, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return c.node(codeNode{op: codeConst, v: codeValue{kind: kindInt, i: n.Value}})
	case *ast.FloatNode:
		return c.node(codeNode{op: codeConst, v: codeValue{kind: kindFloat, f: n.Value}})
	case *ast.BoolNode:
		return c.node(codeNode{op: codeConst, v: boolValue(n.Value)})
	case *ast.ConstantNode:
		switch v := n.Value.(type) {
		case int:
			return c.node(codeNode{op: codeConst, v: codeValue{kind: kindInt, i: v}})
		case float64:
			return c.node(codeNode{op: codeConst, v: codeValue{kind: kindFloat, f: v}})
		case bool:
			return c.node(codeNode{op: codeConst, v: boolValue(v)})
		}
	case *ast.UnaryNode:
		a, ok := c.add(n.Node)
		if !ok {
			return 0, false
		}
		switch n.Operator {
		case "+":
			return a, true
		case "-":
			return c.node(codeNode{op: codeNeg, a: a})
		case "!", "not":
			return c.node(codeNode{op: codeNot, a: a})
		}
	case *ast.BinaryNode:
		op, known := binaryOps(n.Operator)
		if !known {
			return 0, false
		}
		a, ok := c.add(n.Left)
		if !ok {
			return 0, false
		}
		b, ok := c.add(n.Right)
		if !ok {
			return 0, false
		}
		return c.node(codeNode{op: op, a: a, b: b})
	case *ast.ConditionalNode:
		a, ok := c.add(n.Cond)
		if !ok {
			return 0, false
		}
		b, ok := c.add(n.Exp1)
		if !ok {
			return 0, false
		}
		d, ok := c.add(n.Exp2)
		if !ok {
			return 0, false
		}
		return c.node(codeNode{op: codeCond, a: a, b: b, c: d})
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return 0, false
		}
		switch {
		case id.Value == fetchName && len(n.Arguments) == 2:
			i, ok := n.Arguments[1].(*ast.IntegerNode)
			if !ok || i.Value < 0 || i.Value > math.MaxInt32 {
				return 0, false
			}
			return c.node(codeNode{op: codeFeature, a: int32(i.Value)})
		case id.Value == "abs" && len(n.Arguments) == 1:
			a, ok := c.add(n.Arguments[0])
			if !ok {
				return 0, false
			}
			return c.node(codeNode{op: codeAbs, a: a})
		}
	}
	return 0, false
}

func binaryOps(op string) (codeOp, bool) {
	switch op {
	case "&&", "and":
		return codeAnd, true
	case "||", "or":
		return codeOr, true
	case "+":
		return codeAdd, true
	case "-":
		return codeSub, true
	case "*":
		return codeMul, true
	case "/":
		return codeDiv, true
	case "%":
		return codeMod, true
	case "**", "^":
		return codePow, true
	case "==":
		return codeEq, true
	case "!=":
		return codeNe, true
	case "<":
		return codeLt, true
	case ">":
		return codeGt, true
	case "<=":
		return codeLe, true
	case ">=":
		return codeGe, true
	}
	return 0, false
}

func boolValue(b bool) codeValue {
	if b {
		return codeValue{kind: kindBool, i: 1}
	}
	return codeValue{kind: kindBool}
}

// eval evaluates the expression over the feature values; ok is false where
// the VM must decide (see code).
func (c *code) eval(vals []float64) (codeValue, bool) {
	return c.at(c.root, vals)
}

func (c *code) at(i int32, vals []float64) (codeValue, bool) {
	n := &c.nodes[i]
	switch n.op {
	case codeConst:
		return n.v, true
	case codeFeature:
		if int(n.a) >= len(vals) {
			return codeValue{}, false
		}
		return codeValue{kind: kindFloat, f: vals[n.a]}, true
	case codeAnd, codeOr:
		l, ok := c.at(n.a, vals)
		if !ok || l.kind != kindBool {
			return codeValue{}, false
		}
		if (l.i != 0) == (n.op == codeOr) {
			return l, true
		}
		return c.at(n.b, vals)
	case codeCond:
		cond, ok := c.at(n.a, vals)
		if !ok || cond.kind != kindBool {
			return codeValue{}, false
		}
		if cond.i != 0 {
			return c.at(n.b, vals)
		}
		return c.at(n.c, vals)
	}
	a, ok := c.at(n.a, vals)
	if !ok {
		return codeValue{}, false
	}
	switch n.op {
	case codeAbs:
		if !a.number() {
			return codeValue{}, false
		}
		return codeValue{kind: kindFloat, f: math.Abs(a.float())}, true
	case codeNeg:
		switch a.kind {
		case kindInt:
			return codeValue{kind: kindInt, i: -a.i}, true
		case kindFloat:
			return codeValue{kind: kindFloat, f: -a.f}, true
		}
		return codeValue{}, false
	case codeNot:
		if a.kind != kindBool {
			return codeValue{}, false
		}
		return boolValue(a.i == 0), true
	}
	b, ok := c.at(n.b, vals)
	if !ok {
		return codeValue{}, false
	}
	return applyBinary(n.op, a, b)
}

// applyBinary applies an arithmetic or comparison operator as expr's runtime
// does for int, float64 and bool operands.
func applyBinary(op codeOp, a, b codeValue) (codeValue, bool) {
	if op == codeEq || op == codeNe {
		var eq bool
		switch {
		case a.kind == kindInt && b.kind == kindInt:
			eq = a.i == b.i
		case a.number() && b.number():
			eq = a.float() == b.float()
		case a.kind == kindBool && b.kind == kindBool:
			eq = a.i == b.i
		default:
			// Values of different types are never equal (reflect.DeepEqual).
			eq = false
		}
		return boolValue(eq == (op == codeEq)), true
	}
	if !a.number() || !b.number() {
		return codeValue{}, false
	}
	ints := a.kind == kindInt && b.kind == kindInt
	switch op {
	case codeAdd, codeSub, codeMul:
		if ints {
			switch op {
			case codeAdd:
				return codeValue{kind: kindInt, i: a.i + b.i}, true
			case codeSub:
				return codeValue{kind: kindInt, i: a.i - b.i}, true
			}
			return codeValue{kind: kindInt, i: a.i * b.i}, true
		}
		x, y := a.float(), b.float()
		switch op {
		case codeAdd:
			return codeValue{kind: kindFloat, f: x + y}, true
		case codeSub:
			return codeValue{kind: kindFloat, f: x - y}, true
		}
		return codeValue{kind: kindFloat, f: x * y}, true
	case codeDiv:
		return codeValue{kind: kindFloat, f: a.float() / b.float()}, true
	case codePow:
		return codeValue{kind: kindFloat, f: math.Pow(a.float(), b.float())}, true
	case codeMod:
		if !ints || b.i == 0 {
			return codeValue{}, false
		}
		return codeValue{kind: kindInt, i: a.i % b.i}, true
	}
	var r bool
	if ints {
		switch op {
		case codeLt:
			r = a.i < b.i
		case codeGt:
			r = a.i > b.i
		case codeLe:
			r = a.i <= b.i
		default:
			r = a.i >= b.i
		}
	} else {
		x, y := a.float(), b.float()
		switch op {
		case codeLt:
			r = x < y
		case codeGt:
			r = x > y
		case codeLe:
			r = x <= y
		default:
			r = x >= y
		}
	}
	return boolValue(r), true
}
